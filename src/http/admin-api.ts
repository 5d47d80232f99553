import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkPermission, type Accounts } from '../auth/accounts.js';
import type { RoleAuthorizer } from '../auth/authorizer.js';
import { AccessDeniedError } from '../auth/errors.js';
import type { AccessGate } from '../auth/gate.js';
import type { Principal } from '../auth/principal.js';
import { RegistryError } from '../oci/errors.js';
import { credentialsOf, readSmallBody, type Endpoint } from './access.js';
import { sendAdminError, sendEmpty, sendJson } from './respond.js';

/**
 * The admin REST API, apart from the registry under `/api/v1/` with its own error envelope.
 * Every call needs an administrator (`admin` on `*`, or an htpasswd operator); `whoami` only
 * needs a login. JSON in, JSON out; creation is PUT (create or replace), so no conflicts.
 *
 *   GET    /api/v1/whoami
 *   GET    /api/v1/users                     GET /api/v1/users/{name}
 *   PUT    /api/v1/users/{name}              {"password"?, "roles"?}     201 created | 200 updated
 *   PUT    /api/v1/users/{name}/password     {"password"}                204
 *   PUT    /api/v1/users/{name}/roles        {"roles": […]}              204
 *   DELETE /api/v1/users/{name}                                          204
 *   GET    /api/v1/roles                     GET /api/v1/roles/{name}
 *   PUT    /api/v1/roles/{name}              {"description"?, "permissions": [{"pattern","actions"}]}
 *   DELETE /api/v1/roles/{name}                                          204
 */
export const ADMIN_PREFIX = '/api/v1/';
const MAX_BODY = 64 * 1024;

export function adminApi(gate: AccessGate, authorizer: RoleAuthorizer, accounts: Accounts): Endpoint {
  return {
    matches: (path) => path === '/api/v1' || path.startsWith(ADMIN_PREFIX),
    async handle(req, res, path, _query, log) {
      try {
        res.setHeader('Cache-Control', 'no-store');
        await route(req, res, path);
      } catch (error) {
        sendAdminError(req, res, error, log);
      }
    },
  };

  async function authenticate(req: IncomingMessage): Promise<Principal> {
    const result = await gate.authenticate(credentialsOf(req));
    if (result.outcome === 'rejected') {
      if (result.throttled) throw new AccessDeniedError('TOOMANYREQUESTS', result.reason, null, undefined, result.throttled.retryAfterSeconds);
      throw new AccessDeniedError('UNAUTHORIZED', result.reason, null, { scheme: 'Basic', params: { realm: 'berth admin' } });
    }
    const principal = result.outcome === 'authenticated' ? result.principal : { kind: 'anonymous' as const };
    if (principal.kind === 'anonymous') throw new AccessDeniedError('UNAUTHORIZED', 'authentication required', null, { scheme: 'Basic', params: { realm: 'berth admin' } });
    return principal;
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const segments = path.slice(ADMIN_PREFIX.length).split('/').filter((segment) => segment !== '').map(decode);
    const method = req.method ?? 'GET';
    const principal = await authenticate(req);
    const [collection, name, property, ...rest] = segments;
    if (collection === 'whoami' && name === undefined) {
      allow(method, ['GET']);
      return sendJson(req, res, 200, {
        name: principal.kind === 'user' ? principal.name : null,
        source: principal.kind === 'user' ? principal.source : null,
        administrator: await authorizer.isAdministrator(principal),
      });
    }
    if (!(await authorizer.isAdministrator(principal))) throw new AccessDeniedError('DENIED', 'the admin API needs an administrator (admin on *)', null);
    if (rest.length > 0) throw notFound(path);

    if (collection === 'users') {
      if (name === undefined) {
        allow(method, ['GET']);
        return sendJson(req, res, 200, { users: await accounts.listUsers() });
      }
      if (property === undefined) {
        allow(method, ['GET', 'PUT', 'DELETE']);
        if (method === 'GET') return sendJson(req, res, 200, await accounts.getUser(name));
        if (method === 'DELETE') {
          await accounts.removeUser(name);
          return sendEmpty(res, 204);
        }
        const body = await jsonBody(req);
        const created = await accounts.putUser(name, optionalString(body, 'password'), optionalStrings(body, 'roles'));
        return sendJson(req, res, created ? 201 : 200, await accounts.getUser(name));
      }
      if (property === 'password') {
        allow(method, ['PUT']);
        const password = optionalString(await jsonBody(req), 'password');
        if (password === undefined) throw invalid('"password" is required');
        await accounts.setPassword(name, password);
        return sendEmpty(res, 204);
      }
      if (property === 'roles') {
        allow(method, ['PUT']);
        const roles = optionalStrings(await jsonBody(req), 'roles');
        if (roles === undefined) throw invalid('"roles" is required');
        await accounts.setRoles(name, roles);
        return sendEmpty(res, 204);
      }
    }
    if (collection === 'roles' && property === undefined) {
      if (name === undefined) {
        allow(method, ['GET']);
        return sendJson(req, res, 200, { roles: await accounts.listRoles() });
      }
      allow(method, ['GET', 'PUT', 'DELETE']);
      if (method === 'GET') return sendJson(req, res, 200, await accounts.getRole(name));
      if (method === 'DELETE') {
        await accounts.removeRole(name);
        return sendEmpty(res, 204);
      }
      const body = await jsonBody(req);
      const permissions = body.permissions;
      if (!Array.isArray(permissions)) throw invalid('"permissions" must be a list of {"pattern", "actions"}');
      const checked = permissions.map((entry: unknown) => {
        if (typeof entry !== 'object' || entry === null) throw invalid('each permission is an object {"pattern", "actions"}');
        return checkPermission(entry as { pattern: unknown; actions: unknown });
      });
      const created = await accounts.putRole(name, optionalString(body, 'description') ?? '', checked);
      return sendJson(req, res, created ? 201 : 200, await accounts.getRole(name));
    }
    throw notFound(path);

    function allow(actual: string, methods: string[]): void {
      if (methods.includes(actual)) return;
      res.setHeader('Allow', methods.join(', '));
      throw new RegistryError('UNSUPPORTED', `${actual} is not supported on ${path}`);
    }
  }
}

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw invalid('send the request body as application/json');
  const text = await readSmallBody(req, MAX_BODY, () => invalid(`the request body exceeds ${MAX_BODY} bytes`));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid('the request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('the request body must be a JSON object');
  return value as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`"${key}" must be a string`);
  return value;
}

function optionalStrings(body: Record<string, unknown>, key: string): string[] | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw invalid(`"${key}" must be a list of strings`);
  return value as string[];
}

/** Bad input. The shared error table has no generic 400 yet, so NAME_INVALID (400) carries it. */
function invalid(message: string): RegistryError {
  return new RegistryError('NAME_INVALID', message);
}

function notFound(path: string): RegistryError {
  return new RegistryError('NOT_FOUND', `no such admin endpoint: ${path.replace(/[^\x20-\x7e]/g, '?').slice(0, 200)}`);
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalid('malformed percent-encoding in the path');
  }
}

