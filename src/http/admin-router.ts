import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { parseRepositoryName, printable, type RepositoryName } from '../oci/names.js';
import { readSmallBody, type Endpoint } from './access.js';
import type { AdminAccess, Caller, Requirement } from './admin-access.js';
import { AdminError } from './admin-errors.js';
import { sendAdminError, sendEmpty, sendJson } from './respond.js';

/**
 * A small router for `/api/v1`: each route declares its method, path pattern, what it requires
 * of the caller and its body schema; the router authenticates, authorises, validates and
 * answers, so a handler only calls a use case. Patterns: `users/{name}` (one segment) and
 * `repositories/{name+}/tags` (one or more segments: repository names contain `/`).
 */
export interface AdminContext<Body> {
  req: IncomingMessage;
  caller: Caller;
  params: Record<string, string>;
  /** The repository named by the route's `{name+}` parameter, parsed. */
  repository?: RepositoryName;
  query: URLSearchParams;
  body: Body;
  log: Logger;
}

/** A JSON answer, or no body (204). */
export interface AdminAnswer {
  status: number;
  body?: unknown;
}

export interface AdminRoute {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  path: string;
  requires: Requirement;
  body?: z.ZodType;
  handle(context: AdminContext<unknown>): Promise<AdminAnswer>;
}

/** Declares a route whose handler sees its body typed by the schema. */
export function route<S extends z.ZodType | undefined = undefined>(definition: {
  method: AdminRoute['method'];
  path: string;
  requires: Requirement;
  body?: S;
  handle(context: AdminContext<S extends z.ZodType ? z.infer<S> : undefined>): Promise<AdminAnswer>;
}): AdminRoute {
  return definition as AdminRoute;
}

export const API_PREFIX = '/api/v1';
const MAX_BODY = 64 * 1024;

interface Compiled {
  route: AdminRoute;
  prefix: string[];
  /** `{name+}` with the literal segments after it, or none. */
  rest?: { name: string; suffix: string[] };
  params: (string | undefined)[];
}

export function adminRouter(access: AdminAccess, routes: AdminRoute[]): Endpoint {
  const compiled = routes.map(compile);
  return {
    matches: (path) => path === API_PREFIX || path.startsWith(`${API_PREFIX}/`),
    async handle(req, res, path, query, log) {
      try {
        res.setHeader('Cache-Control', 'no-store');
        await dispatch(req, res, path, query, log);
      } catch (error) {
        sendAdminError(req, res, error, log);
      }
    },
  };

  async function dispatch(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, log: Logger): Promise<void> {
    const segments = path.slice(API_PREFIX.length).split('/').filter((segment) => segment !== '').map(decode);
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
    const candidates = compiled.map((entry) => ({ entry, params: match(entry, segments) })).filter((candidate) => candidate.params !== undefined);
    if (candidates.length === 0) throw new AdminError('NOT_FOUND', `no such admin endpoint: ${printable(path)}`);
    const chosen = candidates.find((candidate) => candidate.entry.route.method === method);
    if (!chosen) {
      const allowed = [...new Set(candidates.map((candidate) => candidate.entry.route.method))];
      throw new AdminError('UNSUPPORTED', `${req.method} is not supported on ${printable(path)}`, null, { Allow: allowed.join(', ') });
    }
    const { route: target } = chosen.entry;
    const params = chosen.params!;
    const caller = await access.callerOf(req);
    const repository = target.path.includes('{name+}') ? repositoryParam(params.name!) : undefined;
    await access.require(caller, target.requires, repository);
    const body = target.body ? validate(target.body, await jsonBody(req)) : undefined;
    const answer = await target.handle({ req, caller, params, repository, query, body, log });
    if (answer.body === undefined) return sendEmpty(res, answer.status);
    sendJson(req, res, answer.status, answer.body);
  }
}

function compile(route: AdminRoute): Compiled {
  const segments = route.path.split('/').filter(Boolean);
  const restAt = segments.findIndex((segment) => segment.endsWith('+}'));
  const param = (segment: string) => (segment.startsWith('{') ? segment.slice(1, segment.endsWith('+}') ? -2 : -1) : undefined);
  if (restAt < 0) return { route, prefix: segments, params: segments.map(param) };
  return {
    route,
    prefix: segments.slice(0, restAt),
    rest: { name: param(segments[restAt]!)!, suffix: segments.slice(restAt + 1) },
    params: segments.slice(0, restAt).map(param),
  };
}

function match(entry: Compiled, segments: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  const fixed = entry.prefix.length + (entry.rest?.suffix.length ?? 0);
  if (entry.rest ? segments.length <= fixed : segments.length !== fixed) return undefined;
  for (const [index, pattern] of entry.prefix.entries()) {
    const name = entry.params[index];
    if (name !== undefined) params[name] = segments[index]!;
    else if (pattern !== segments[index]) return undefined;
  }
  if (!entry.rest) return params;
  const suffixStart = segments.length - entry.rest.suffix.length;
  if (entry.rest.suffix.some((literal, index) => segments[suffixStart + index] !== literal)) return undefined;
  params[entry.rest.name] = segments.slice(entry.prefix.length, suffixStart).join('/');
  return params;
}

function repositoryParam(value: string): RepositoryName {
  try {
    return parseRepositoryName(value);
  } catch {
    throw new AdminError('INVALID_REQUEST', `invalid repository name "${printable(value)}"`);
  }
}

/** A query string through its schema (for routes with options); invalid is INVALID_REQUEST. */
export function validateQuery<S extends z.ZodType>(schema: S, query: URLSearchParams): z.infer<S> {
  return validate(schema, Object.fromEntries(query), 'the query string') as z.infer<S>;
}

function validate(schema: z.ZodType, value: unknown, what = 'the request body'): unknown {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`);
  throw new AdminError('INVALID_REQUEST', `${what} is invalid: ${problems.join('; ')}`, { issues: result.error.issues.map((issue) => ({ path: issue.path, message: issue.message })) });
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AdminError('INVALID_REQUEST', 'send the request body as application/json');
  const text = await readSmallBody(req, MAX_BODY, () => new AdminError('TOO_LARGE', `the request body exceeds ${MAX_BODY} bytes`));
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AdminError('INVALID_REQUEST', 'the request body is not valid JSON');
  }
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AdminError('INVALID_REQUEST', 'malformed percent-encoding in the path');
  }
}
