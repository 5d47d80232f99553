import type { IncomingMessage } from 'node:http';
import type { AuditTrail } from '../core/audit.js';
import { AccessDeniedError } from '../auth/errors.js';
import type { Authenticator } from '../auth/principal.js';
import type { Endpoint } from './access.js';

/**
 * Where HTTP facts become audit entries: refused credentials on `/v2`, and successful changes
 * through an admin endpoint. Only names are read from credentials, never a password or token.
 */

/** The user name a request claims: Basic's name, or a Bearer token's `sub` (trusted only once the request succeeded). */
export function claimedUser(req: IncomingMessage): string | undefined {
  return userOfAuthorization(req.headers.authorization);
}

function userOfAuthorization(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  try {
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon > 0 ? decoded.slice(0, colon) : undefined;
    }
    if (scheme === 'bearer') {
      const payload = JSON.parse(Buffer.from(value.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
      return typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * Password checks whose refusals are recorded: the token service and the web UI's login take
 * credentials from a header or a form, so their failed logins are seen where they are checked,
 * not from the response. The caller's own address comes with the credentials. `path` says
 * which door was tried; with `loginsToo`, successful logins are recorded as well.
 */
export function auditedAuthenticator(authenticator: Authenticator, audit: AuditTrail, path: string, loginsToo = false): Authenticator {
  return {
    async authenticate(credentials) {
      const result = await authenticator.authenticate(credentials);
      const user = userOfAuthorization(credentials.authorization) ?? 'unknown';
      const origin = { address: credentials.remoteAddress };
      if (result.outcome === 'rejected') {
        if (result.throttled) audit.record(user, 'auth.throttled', origin, { detail: { path } });
        else audit.record(user, 'auth.failure', origin, { detail: { path, reason: result.reason } });
      } else if (loginsToo && result.outcome === 'authenticated') {
        audit.record(user, 'auth.login', origin, { detail: { path } });
      }
      return result;
    },
  };
}

/** A refused access check: credentials that were presented and rejected, or throttled. Anonymous challenges are not failures. */
export function auditRefusal(audit: AuditTrail, req: IncomingMessage, requestId: string, error: unknown): void {
  if (!(error instanceof AccessDeniedError)) return;
  if (error.code === 'TOOMANYREQUESTS') {
    audit.record(claimedUser(req) ?? 'anonymous', 'auth.throttled', { address: req.socket.remoteAddress, requestId });
  } else if (error.code === 'UNAUTHORIZED' && req.headers.authorization !== undefined) {
    audit.record(claimedUser(req) ?? 'unknown', 'auth.failure', { address: req.socket.remoteAddress, requestId }, { detail: { reason: error.message } });
  }
}

/**
 * An admin endpoint whose successful changes (PUT, POST, DELETE answered below 400) are
 * recorded as `describe` names them; refused credentials are recorded as failures.
 */
export function audited(endpoint: Endpoint, audit: AuditTrail, describe: (method: string, path: string) => { action: string; target?: string } | undefined): Endpoint {
  return {
    matches: (path) => endpoint.matches(path),
    handle(req, res, path, query, log) {
      const method = req.method ?? 'GET';
      res.once('finish', () => {
        const origin = { address: req.socket?.remoteAddress ?? undefined, requestId: String(res.getHeader('x-request-id') ?? '') || undefined };
        if (res.statusCode === 401 && req.headers.authorization !== undefined) {
          audit.record(claimedUser(req) ?? 'unknown', 'auth.failure', origin, { detail: { path } });
          return;
        }
        if (res.statusCode >= 400 || method === 'GET' || method === 'HEAD') return;
        const described = describe(method, path);
        if (described) audit.record(claimedUser(req) ?? 'unknown', described.action, origin, described.target === undefined ? {} : { target: described.target });
      });
      return endpoint.handle(req, res, path, query, log);
    },
  };
}

/** The admin API's changes, by route (see `admin-api.ts`). */
export function describeAdminChange(method: string, path: string): { action: string; target?: string } | undefined {
  const user = /^\/api\/v1\/users\/([^/]+)(\/password|\/roles)?$/.exec(path);
  if (user) {
    const target = decodeURIComponent(user[1]!);
    if (user[2] === '/password') return { action: 'user.password', target };
    if (user[2] === '/roles') return { action: 'user.roles', target };
    return { action: method === 'DELETE' ? 'user.delete' : 'user.put', target };
  }
  const role = /^\/api\/v1\/roles\/([^/]+)$/.exec(path);
  if (role) return { action: method === 'DELETE' ? 'role.delete' : 'role.put', target: decodeURIComponent(role[1]!) };
  return { action: `admin.${method.toLowerCase()}`, target: path };
}
