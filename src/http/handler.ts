import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from '../core/registry.js';
import type { HealthMonitor } from '../core/health.js';
import { RegistryError } from '../oci/errors.js';
import { parseRoute, type Route } from '../oci/routes.js';
import { sendError, sendJson } from './respond.js';
import { V2_HANDLERS } from './v2-handlers.js';

export interface HandlerOptions {
  registry: Registry;
  health: HealthMonitor;
  log: Logger;
  /** Lower-cased name → values, from `http.headers`. */
  headers: Record<string, string[]>;
  accessLog: boolean;
}

/**
 * The request pipeline: context (id, logger, timer) → standard headers → route parse →
 * health gate → handler → one error path → access log.
 */
export function createRequestHandler(options: HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { registry, health, log, headers, accessLog } = options;
  const staticHeaders = Object.entries({ 'Docker-Distribution-API-Version': ['registry/2.0'], ...headers });

  return (req, res) => {
    const started = process.hrtime.bigint();
    const id = randomUUID();
    // A child logger costs an allocation and a serialisation: make it only when a line is written.
    let requestLog: Logger | undefined;
    const logger = () => (requestLog ??= log.child({ requestId: id }));
    for (const [name, values] of staticHeaders) res.setHeader(name, values.length === 1 ? values[0]! : values);
    res.setHeader('X-Request-Id', id);

    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
      if (accessLog) {
        logger().info(
          { method: req.method, path: pathOf(req.url), status: res.statusCode, durationMs: Number(process.hrtime.bigint() - started) / 1e6, remote: req.socket.remoteAddress, finished: res.writableFinished },
          'request',
        );
      }
    });

    handle(req, res, abort.signal).catch((error: unknown) => sendError(req, res, error, logger()));
  };

  async function handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart < 0 ? url : url.slice(0, queryStart);
    const query = new URLSearchParams(queryStart < 0 ? '' : url.slice(queryStart + 1));
    const method = req.method ?? 'GET';

    if (path === '/health' || path === '/debug/health') {
      const status = health.status();
      return sendJson(req, res, status.healthy ? 200 : 503, status);
    }
    const route = parseRoute(path);
    if (!route) throw new RegistryError('NOT_FOUND', 'no such endpoint: the registry API is under /v2/');
    if (!health.status().healthy) throw new RegistryError('UNAVAILABLE', 'the storage driver is failing its health checks');
    const handler = V2_HANDLERS[route.kind][method] as ((...args: unknown[]) => Promise<void>) | undefined;
    if (!handler) {
      res.setHeader('Allow', Object.keys(V2_HANDLERS[route.kind]).join(', '));
      throw new RegistryError('UNSUPPORTED', `${method} is not supported on ${describe(route)}`);
    }
    await handler(registry, route, { req, res, query, signal });
  }
}

function describe(route: Route): string {
  return route.kind === 'base' ? '/v2/' : route.kind === 'catalog' ? '/v2/_catalog' : `the ${route.kind} endpoint`;
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const queryStart = url.indexOf('?');
  return queryStart < 0 ? url : url.slice(0, queryStart);
}
