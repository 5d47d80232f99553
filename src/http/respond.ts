import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ERROR_TABLE, RegistryError } from '../oci/errors.js';

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
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
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
