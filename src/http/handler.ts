import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from '../core/registry.js';
import type { HealthMonitor } from '../core/health.js';
import { RegistryError } from '../oci/errors.js';
import { parseRoute, type Route } from '../oci/routes.js';
import type { AccessGate } from '../auth/gate.js';
import { credentialsOf, originOf, type Endpoint } from './access.js';
import { sendError, sendJson } from './respond.js';
import { V2_HANDLERS, qualifiedQuery, qualifiedRoute, type V2Request } from './v2-handlers.js';
import { handlerOf, type Metrics } from './metrics.js';
import { PROBES, answerProbe } from './probes.js';
import type { AuditTrail } from '../core/audit.js';
import { auditRefusal } from './audit-hooks.js';
import type { BlobRedirects } from '../core/blob-redirects.js';

export interface HandlerOptions {
  registry: Registry;
  health: HealthMonitor;
  log: Logger;
  /** Lower-cased name → values, from `http.headers`. */
  headers: Record<string, string[]>;
  accessLog: boolean;
  /** Access control between route parse and handler; absent: an open registry. */
  access?: AccessGate;
  /** Endpoints outside `/v2` (token service, admin API), each with its own envelope. */
  endpoints?: Endpoint[];
  /** Counters the handler keeps (client aborts); created here when not given. */
  stats?: RequestStats;
  /** Prometheus metrics (`http.debug.prometheus`); absent: nothing is measured. */
  metrics?: Metrics;
  /** Records refused credentials and logins (`GET /v2/` with a user, as `docker login` does). */
  audit?: AuditTrail;
  /** A repository's own listener: names are inside this repository (`app` means `<root>/app`). */
  root?: string;
  /** Blob GETs redirect to the object store (`storage.redirect`); absent: bytes are served here. */
  blobRedirects?: BlobRedirects;
}

/** What the request pipeline counts, for logs now and metrics later. */
export class RequestStats {
  /** Requests whose client went away before the response was complete. */
  clientAborts = 0;
  /** Connections closed on arrival because their client already held too many. */
  refusedConnections = 0;
}

/**
 * The request pipeline: context (id, logger, timer) → standard headers → other endpoints
 * (token, admin API) → route parse → access check (authenticate, required access, grant:
 * 401 + challenge / 403 DENIED / 429) → health gate → handler → one error path → access log.
 */
export function createRequestHandler(options: HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { registry, health, log, headers, accessLog, access, endpoints = [], stats = new RequestStats(), metrics, audit, root, blobRedirects } = options;
  const staticHeaders = Object.entries({ 'Docker-Distribution-API-Version': ['registry/2.0'], ...headers });

  return (req, res) => {
    const started = performance.now();
    const id = randomUUID();
    // A child logger costs an allocation and a serialisation: make it only when a line is written.
    let requestLog: Logger | undefined;
    const logger = () => (requestLog ??= log.child({ requestId: id }));
    for (const [name, values] of staticHeaders) res.setHeader(name, values.length === 1 ? values[0]! : values);
    res.setHeader('X-Request-Id', id);

    // Read now: once the connection is gone, `req.socket` is null.
    const remote = req.socket?.remoteAddress;
    const abort = new AbortController();
    const handlerLabel = metrics ? handlerOf(req.url ?? '/') : 'other';
    metrics?.started(handlerLabel);
    res.once('close', () => {
      metrics?.finished(handlerLabel, req.method, res.statusCode, started, Number(req.headers['content-length'] ?? 0) || 0,
        req.method === 'HEAD' ? 0 : Number(res.getHeader('content-length') ?? 0) || 0);
      if (!res.writableFinished) {
        abort.abort();
        stats.clientAborts += 1;
      }
      if (accessLog) {
        logger().info(
          { method: req.method, path: pathOf(req.url), status: res.statusCode, durationMs: performance.now() - started, remote, finished: res.writableFinished },
          'request',
        );
      }
    });

    handle(req, res, abort.signal, logger, id)
      .catch((error: unknown) => sendError(req, res, error, logger()))
      .catch((error: unknown) => {
        // Answering failed too (the connection broke mid-answer): the request ends here, the process does not.
        logger().warn({ err: error }, 'could not send the error response');
        res.destroy();
      });
  };

  async function handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal, logger: () => Logger, id: string): Promise<void> {
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart < 0 ? url : url.slice(0, queryStart);
    const query = new URLSearchParams(queryStart < 0 ? '' : url.slice(queryStart + 1));
    const method = req.method ?? 'GET';

    if (path === '/health' || path === '/debug/health') {
      const status = health.status();
      return sendJson(req, res, status.healthy ? 200 : 503, status);
    }
    if (path === PROBES.live || path === PROBES.ready) return answerProbe(req, res, path, health);
    for (const endpoint of endpoints) if (endpoint.matches(path)) return endpoint.handle(req, res, path, query, logger());
    const route = parseRoute(path);
    if (!route) throw new RegistryError('NOT_FOUND', 'no such endpoint: the registry API is under /v2/');
    let catalogFilter: V2Request['catalogFilter'];
    let actor: string | undefined;
    if (access) {
      let decision: Awaited<ReturnType<AccessGate['check']>>;
      try {
        // Rights are those on the repository's own names, whichever listener the request came to.
        decision = root === undefined
          ? await access.check(credentialsOf(req), method, route, query, originOf(req))
          : await access.check(credentialsOf(req), method, qualifiedRoute(route, root), qualifiedQuery(query, root), originOf(req));
      } catch (error) {
        if (audit) auditRefusal(audit, req, id, error);
        throw error;
      }
      if (decision.principal.kind === 'user') {
        actor = decision.principal.name;
        if (route.kind === 'base') audit?.record(actor, 'auth.login', { address: req.socket.remoteAddress, requestId: id });
      }
      if (decision.dropMount) {
        query.delete('mount');
        query.delete('from');
      }
      if (route.kind === 'catalog') catalogFilter = (names) => access.pullable(decision.principal, names);
    }
    if (!health.status().healthy) throw new RegistryError('UNAVAILABLE', 'the storage driver is failing its health checks');
    const handler = V2_HANDLERS[route.kind][method] as ((...args: unknown[]) => Promise<void>) | undefined;
    if (!handler) {
      res.setHeader('Allow', Object.keys(V2_HANDLERS[route.kind]).join(', '));
      throw new RegistryError('UNSUPPORTED', `${method} is not supported on ${describe(route)}`);
    }
    await handler(registry, route, { req, res, query, signal, catalogFilter, root, id, actor, blobRedirects });
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
