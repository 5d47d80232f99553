import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { CollectionInProgressError, type GarbageCollector } from '../core/garbage-collector.js';
import type { Registry } from '../core/registry.js';
import { RegistryError } from '../oci/errors.js';
import { isLoopback, type Endpoint } from './access.js';
import { sendAdminError, sendJson } from './respond.js';

/**
 * Lifecycle operations on demand, beside the admin API and with its envelope:
 *
 *   POST /api/v1/gc?dryRun=true&deleteUntagged=true     run garbage collection now (the report)
 *   POST /api/v1/retention?dryRun=true                   apply retention now (the decisions)
 *   GET  /api/v1/usage                                   storage used per repository
 *
 * With access control these need an administrator. Without it the registry is open to
 * everyone, but these are not: they answer loopback clients only.
 */
export type AdminCheck = (req: IncomingMessage) => Promise<void>;

const PATHS = new Set(['/api/v1/gc', '/api/v1/retention', '/api/v1/usage']);

export function maintenanceApi(registry: Registry, collector: GarbageCollector, graceMs: number, requireAdmin: AdminCheck | undefined): Endpoint {
  return {
    matches: (path) => PATHS.has(path),
    async handle(req, res, path, query, log) {
      try {
        res.setHeader('Cache-Control', 'no-store');
        if (requireAdmin) await requireAdmin(req);
        else if (!isLoopback(req.socket.remoteAddress)) {
          throw new RegistryError('DENIED', 'lifecycle operations of a registry without access control answer loopback clients only');
        }
        await route(req, res, path, query, log);
      } catch (error) {
        sendAdminError(req, res, error, log);
      }
    },
  };

  async function route(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, log: Logger): Promise<void> {
    const method = req.method ?? 'GET';
    const flag = (name: string) => query.get(name) === 'true' || query.get(name) === '1';
    if (path === '/api/v1/usage') {
      allow(res, method, 'GET');
      return sendJson(req, res, 200, { repositories: await registry.metadata.listUsage() });
    }
    allow(res, method, 'POST');
    if (path === '/api/v1/retention') {
      const report = await registry.retention.run(flag('dryRun'));
      return sendJson(req, res, 200, report);
    }
    try {
      const report = await collector.collect({ dryRun: flag('dryRun'), deleteUntagged: flag('deleteUntagged'), graceMs });
      log.info({ bytesFreed: report.bytesFreed, dryRun: report.dryRun }, 'garbage collection requested through the API');
      sendJson(req, res, 200, report);
    } catch (error) {
      if (error instanceof CollectionInProgressError) throw new RegistryError('TOOMANYREQUESTS', 'a garbage collection is already running; try again when it has finished');
      throw error;
    }
  }
}

function allow(res: ServerResponse, method: string, expected: string): void {
  if (method === expected) return;
  res.setHeader('Allow', expected);
  throw new RegistryError('UNSUPPORTED', `${method} is not supported here; use ${expected}`);
}
