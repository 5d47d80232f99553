import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Endpoint } from './access.js';
import type { AdminAccess } from './admin-access.js';
import { AdminError } from './admin-errors.js';
import { sendAdminError } from './respond.js';

/**
 * An operations route under /api/v1 (webhooks, audit): administrators only, checked by the one
 * admin access check (without access control: the operator on loopback). Apart from the admin
 * router because an export streams its answer (JSON lines) rather than returning one value.
 */
export interface OperationsRoute {
  path: string;
  method: 'GET';
  answer(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, log: Logger): Promise<void>;
}

export function operationsApi(routes: OperationsRoute[], access: AdminAccess): Endpoint {
  const byPath = new Map(routes.map((route) => [route.path, route]));
  return {
    matches: (path) => byPath.has(path),
    async handle(req, res, path, query, log) {
      try {
        res.setHeader('Cache-Control', 'no-store');
        const route = byPath.get(path)!;
        if ((req.method ?? 'GET') !== route.method && req.method !== 'HEAD') {
          throw new AdminError('UNSUPPORTED', `${req.method} is not supported here; use ${route.method}`, null, { Allow: route.method });
        }
        await access.require(await access.callerOf(req), { kind: 'administrator' });
        await route.answer(req, res, query, log);
      } catch (error) {
        sendAdminError(req, res, error, log);
      }
    },
  };
}
