import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { AccessDeniedError, formatChallenge } from '../auth/errors.js';
import { TokenRequestError } from '../auth/token-service.js';
import { ERROR_TABLE, RegistryError } from '../oci/errors.js';
import { RangeNotSatisfiableError } from '../oci/ranges.js';
import { ADMIN_ERROR_TABLE, adminErrorOf } from './admin-errors.js';

/**
 * The one place a `/v2` error becomes a response: the status comes from the error table,
 * the body is the spec's `{"errors":[…]}` envelope, and an untyped error is logged once with
 * the request id and answered as `UNKNOWN` without internals.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, error: unknown, log: Logger): void {
  const registryError = error instanceof RegistryError ? error : undefined;
  // A request stream is destroyed once read to its end too; a gone client shows in its socket.
  if (!registryError && (res.destroyed || (req.socket?.destroyed ?? true))) {
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
  errorHeaders(res, registryError);
  endError(req, res, ERROR_TABLE[code].status, { errors: [{ code, message, detail: registryError?.detail ?? null }] });
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
 * status from the admin error table (`admin-errors.ts`); untyped errors are logged once and
 * answered `UNKNOWN`.
 */
export function sendAdminError(req: IncomingMessage, res: ServerResponse, error: unknown, log: Logger): void {
  const adminError = adminErrorOf(error);
  if (!adminError) log.error({ err: error }, 'admin request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const code = adminError?.code ?? 'UNKNOWN';
  const message = adminError?.message ?? ADMIN_ERROR_TABLE.UNKNOWN.message;
  for (const [name, value] of Object.entries(adminError?.headers ?? {})) res.setHeader(name, value);
  res.setHeader('Cache-Control', 'no-store');
  endError(req, res, ADMIN_ERROR_TABLE[code].status, { error: { code, message, detail: adminError?.detail ?? null } });
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
  errorHeaders(res, error instanceof RegistryError ? error : undefined);
  res.setHeader('Cache-Control', 'no-store');
  endError(req, res, status, body);
}

/**
 * Ends an error response. A request body the handler did not read (a refused 5 MB manifest, a
 * PATCH to an unknown upload) is read and discarded up to a bound, so the client receives the
 * answer instead of a connection reset; past the bound the connection is closed.
 */
function endError(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (!req.complete) discardBody(req, res);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** How much of an unread request body is read and discarded before the connection is closed instead. */
export const DISCARD_LIMIT_BYTES = 8 * 1024 * 1024;
/** After half-closing, how long the rest of a refused body is still read before the socket is destroyed. */
const LINGER_MS = 2_000;

/**
 * Closing a socket whose receive buffer holds unread bytes makes the kernel send a reset, and
 * the peer may then drop the response it had not yet read. So the body is discarded, and past
 * the bound the connection is half-closed after the response (a lingering close) before it goes.
 */
function discardBody(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  let discarded = 0;
  let closing = false;
  req.on('error', () => undefined);
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (closing || discarded <= DISCARD_LIMIT_BYTES) return;
    closing = true;
    res.shouldKeepAlive = false;
    const close = () => {
      socket.end();
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    };
    if (res.writableFinished) close();
    else res.once('finish', close);
  });
  req.resume();
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
