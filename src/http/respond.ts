import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { AccessDeniedError, formatChallenge } from '../auth/errors.js';
import { TokenRequestError } from '../auth/token-service.js';
import { ERROR_TABLE, RegistryError } from '../oci/errors.js';
import { RangeNotSatisfiableError } from '../oci/ranges.js';

/**
 * The one place a `/v2` error becomes a response: the status comes from the error table,
 * the body is the spec's `{"errors":[…]}` envelope, and an untyped error is logged once with
 * the request id and answered as `UNKNOWN` without internals.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, error: unknown, log: Logger): void {
  const registryError = error instanceof RegistryError ? error : undefined;
  if (req.destroyed && !registryError) {
    // The client went away mid-request (an aborted push or pull): not a server failure.
    log.debug({ err: error }, 'client closed the connection');
    res.destroy();
    return;
  }
  if (!registryError) log.error({ err: error }, 'request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const code = registryError?.code ?? 'UNKNOWN';
  const message = registryError?.message ?? ERROR_TABLE.UNKNOWN.message;
  const body = JSON.stringify({ errors: [{ code, message, detail: registryError?.detail ?? null }] });
  // An unread request body (a rejected PATCH of 2 GiB) is not worth draining: close instead.
  if (!req.complete) res.setHeader('Connection', 'close');
  res.statusCode = ERROR_TABLE[code].status;
  errorHeaders(res, registryError);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Headers an error carries besides its body: `WWW-Authenticate` for a refusal that carries a
 * challenge, `Retry-After` for throttling, `Content-Range: bytes *\/<size>` for a 416.
 */
function errorHeaders(res: ServerResponse, error: RegistryError | undefined): void {
  if (error instanceof RangeNotSatisfiableError) res.setHeader('Content-Range', `bytes */${error.size}`);
  if (!(error instanceof AccessDeniedError)) return;
  if (error.challenge) res.setHeader('WWW-Authenticate', formatChallenge(error.challenge));
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
}

/**
 * The admin API's error envelope (`/api/v1/…`): `{"error":{"code","message","detail"}}`, the
 * status from the same error table; untyped errors are logged once and answered `UNKNOWN`.
 */
export function sendAdminError(req: IncomingMessage, res: ServerResponse, error: unknown, log: Logger): void {
  const registryError = error instanceof RegistryError ? error : undefined;
  if (!registryError) log.error({ err: error }, 'admin request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const code = registryError?.code ?? 'UNKNOWN';
  const message = registryError?.message ?? ERROR_TABLE.UNKNOWN.message;
  const body = JSON.stringify({ error: { code, message, detail: registryError?.detail ?? null } });
  if (!req.complete) res.setHeader('Connection', 'close');
  res.statusCode = ERROR_TABLE[code].status;
  errorHeaders(res, registryError);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * The token endpoint's errors (OAuth2, RFC 6749 §5.2): `{"error","error_description"}`; a 401
 * or 429 also carries the `/v2` `errors` array that Docker clients print. Untyped errors are
 * logged once and answered 500 `server_error`.
 */
export function sendTokenError(req: IncomingMessage, res: ServerResponse, error: unknown, log: Logger): void {
  let status: number;
  let body: Record<string, unknown>;
  if (error instanceof TokenRequestError) {
    status = error.status;
    body = { error: error.code, error_description: error.message };
  } else if (error instanceof RegistryError) {
    status = ERROR_TABLE[error.code].status;
    const oauth = error.code === 'UNAUTHORIZED' ? 'invalid_client' : error.code === 'TOOMANYREQUESTS' ? 'slow_down' : 'invalid_request';
    body = { error: oauth, error_description: error.message, errors: [{ code: error.code, message: error.message, detail: null }] };
  } else {
    log.error({ err: error }, 'token request failed');
    status = 500;
    body = { error: 'server_error', error_description: ERROR_TABLE.UNKNOWN.message };
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  if (!req.complete) res.setHeader('Connection', 'close');
  res.statusCode = status;
  errorHeaders(res, error instanceof RegistryError ? error : undefined);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, value: unknown, contentType = 'application/json; charset=utf-8'): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Length', 0);
  res.end();
}
