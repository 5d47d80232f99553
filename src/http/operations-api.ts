import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { RegistryError } from '../oci/errors.js';
import { isLoopback, type Endpoint } from './access.js';
import type { AdminCheck } from './maintenance-api.js';
import { sendAdminError } from './respond.js';

/**
 * An operations route under /api/v1 (webhooks, audit), each its own small module so it can
 * move onto the unified admin router as is. Administrators only; without access control,
 * loopback clients only (as the lifecycle operations).
 */
export interface OperationsRoute {
  path: string;
  method: 'GET';
  answer(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, log: Logger): Promise<void>;
}

export function operationsApi(routes: OperationsRoute[], requireAdmin: AdminCheck | undefined): Endpoint {
  const byPath = new Map(routes.map((route) => [route.path, route]));
  return {
    matches: (path) => byPath.has(path),
    async handle(req, res, path, query, log) {
      try {
        res.setHeader('Cache-Control', 'no-store');
        if (requireAdmin) await requireAdmin(req);
        else if (!isLoopback(req.socket.remoteAddress)) {
          throw new RegistryError('DENIED', 'operations endpoints of a registry without access control answer loopback clients only');
        }
        const route = byPath.get(path)!;
        if ((req.method ?? 'GET') !== route.method && req.method !== 'HEAD') {
          res.setHeader('Allow', route.method);
          throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here; use ${route.method}`);
        }
        await route.answer(req, res, query, log);
      } catch (error) {
        sendAdminError(req, res, error, log);
      }
    },
  };
}
