import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { ClientCredentials } from '../auth/principal.js';
import type { RequestContext } from '../core/notifications/events.js';

/**
 * HTTP facts the access check needs, made protocol-neutral for `auth/`: the Authorization
 * header, the peer, whether the connection is TLS or loopback, a verified client certificate.
 */
export function credentialsOf(req: IncomingMessage): ClientCredentials {
  const socket = req.socket as Partial<TLSSocket> & IncomingMessage['socket'];
  const secure = socket.encrypted === true;
  const credentials: ClientCredentials = {
    authorization: req.headers.authorization,
    remoteAddress: socket.remoteAddress ?? 'unknown',
    secure,
    loopback: isLoopback(socket.localAddress) && isLoopback(socket.remoteAddress),
  };
  if (secure && socket.authorized && typeof socket.getPeerCertificate === 'function') {
    const subject = socket.getPeerCertificate().subject as Record<string, string | string[]> | undefined;
    const cn = subject?.CN;
    if (cn !== undefined) credentials.certificate = { subject: Array.isArray(cn) ? cn[0] ?? '' : cn };
  }
  return credentials;
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'));
}

/** `scheme://host[:port]` the client used (for a token realm that is not configured). */
/** Who asks for a change, for its webhook event and audit entry. Built on write paths only. */
export function requestContextOf(req: IncomingMessage, id: string, actor: string | undefined): RequestContext {
  return {
    id,
    addr: req.socket.remoteAddress ?? '',
    host: req.headers.host ?? '',
    method: req.method ?? '',
    userAgent: req.headers['user-agent'] ?? '',
    ...(actor !== undefined ? { actor } : {}),
    origin: originOf(req),
  };
}

export function originOf(req: IncomingMessage): string {
  const secure = (req.socket as Partial<TLSSocket>).encrypted === true;
  const host = req.headers.host;
  const safe = host !== undefined && /^[A-Za-z0-9.\-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(host)
    ? host
    : `${req.socket.localAddress?.includes(':') ? `[${req.socket.localAddress}]` : req.socket.localAddress}:${req.socket.localPort}`;
  return `${secure ? 'https' : 'http'}://${safe}`;
}

/** A non-`/v2` endpoint with its own surface and error envelope (token service, admin API). */
export interface Endpoint {
  matches(path: string): boolean;
  /** Must answer every request itself, errors included. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, log: Logger): Promise<void>;
}

/** Reads a small request body (token and admin requests), refusing more than `limit` bytes. */
export async function readSmallBody(req: IncomingMessage, limit: number, tooLarge: () => Error): Promise<string> {
  // Refused before reading a byte when the declared length already says too much.
  if (Number(req.headers['content-length']) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}
