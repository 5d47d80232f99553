import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Config, TlsConfig } from '../config/config.js';

export interface ServerLimits {
  tls?: TlsConfig;
  timeouts: Config['http']['timeouts'];
  maxConnectionsPerClient: number;
  /** Told when a connection is refused for exceeding the per-client cap. */
  onRefused?: (remoteAddress: string) => void;
}

/**
 * The HTTP(S) server with its listen and close. With TLS, each new connection's first bytes
 * are looked at before the TLS layer sees them, so plain HTTP sent to the TLS port gets a 400
 * with a hint, as Go's net/http gives it, instead of a connection closed without a word.
 */
export interface HttpServer {
  /** Answers requests. */
  server: Server;
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  /** Stops accepting, closes idle connections, and after `drainMs` every connection still open. */
  close(drainMs: number): Promise<void>;
}

/** Listening is apart from building, so tests run the real server on an ephemeral port. */
export function createServer(handler: (req: IncomingMessage, res: ServerResponse) => void, limits: ServerLimits): HttpServer {
  const { tls, timeouts } = limits;
  const options = {
    // No limit on a whole request: a slow client pushing a large layer must not be cut off
    // while it makes progress. Silence is what ends a connection (`idleMs`, below).
    requestTimeout: 0,
    headersTimeout: timeouts.headersMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // How often Node checks headersTimeout; its default (30 s) would blur a shorter timeout.
    connectionsCheckingInterval: Math.max(50, Math.min(5_000, timeouts.headersMs / 2)),
  };
  const limit = (server: Server) => {
    // A socket that neither sends nor receives for this long is destroyed: a body that stops
    // arriving ends its request (and releases its upload session) instead of holding it forever.
    server.setTimeout(timeouts.idleMs);
    capConnectionsPerClient(server, limits.maxConnectionsPerClient, limits.onRefused);
  };
  if (!tls) {
    const server = createHttpServer(options, handler);
    limit(server);
    return serving(server, new Set());
  }
  const server = createHttpsServer(
    {
      ...options,
      cert: readFileSync(tls.certificate),
      key: readFileSync(tls.key),
      minVersion: tls.minimumVersion,
      ...(tls.clientCas.length > 0 ? { ca: tls.clientCas.map((path) => readFileSync(path)), requestCert: true, rejectUnauthorized: true } : {}),
    },
    handler,
  );
  const unsorted = new Set<Socket>();
  sortConnectionsBeforeTls(server, options.headersTimeout, unsorted);
  limit(server);
  return serving(server, unsorted);
}

/** One client address may hold at most `max` connections at once; more are closed on arrival. */
function capConnectionsPerClient(server: Server, max: number, onRefused?: (remoteAddress: string) => void): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = open.get(address) ?? 0;
    if (count >= max) {
      onRefused?.(address);
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const remaining = (open.get(address) ?? 1) - 1;
      if (remaining <= 0) open.delete(address);
      else open.set(address, remaining);
    });
  });
}

function serving(server: Server, unsorted: Set<Socket>): HttpServer {
  return {
    server,
    listen: (host, port) => listen(server, host, port),
    close: (drainMs) =>
      new Promise<void>((resolve) => {
        // node:http closes the connections idle at this call; one whose response ends later
        // (a proxied blob ends after its fill commits) stays open for keep-alive, so idle
        // connections are closed again until the server is closed or the drain time is up.
        const sweep = setInterval(() => server.closeIdleConnections(), 100).unref();
        server.close(() => {
          clearInterval(sweep);
          resolve();
        });
        for (const socket of unsorted) socket.destroy();
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), drainMs).unref();
      }),
  };
}

/**
 * The TLS server starts its handshake from its own 'connection' listener (tls.Server's
 * 'connection' event is "emitted when a new TCP stream is established, before the TLS
 * handshake begins"). That listener is taken aside and called once the first chunk has shown
 * a TLS record; the server still listens itself, so node:http keeps tracking its connections
 * (header timeouts, closeIdleConnections) as for any server.
 */
function sortConnectionsBeforeTls(server: Server, timeoutMs: number, unsorted: Set<Socket>): void {
  const startTls = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => sortConnection(socket, timeoutMs, unsorted, () => {
    for (const listener of startTls) listener.call(server, socket);
  }));
}

/** The first byte of a plain HTTP request is a method's first letter; a TLS record's is never one. */
const HTTP_METHOD_START = /^[A-Z]$/;

const PLAIN_HTTP_HINT = 'Client sent an HTTP request to an HTTPS server: this registry speaks HTTPS on this port, use https://\n';

/**
 * Reads the connection's first chunk (the ClientHello, or a request line), puts it back and
 * decides. Only that chunk passes through JavaScript: the TLS socket takes over the handle.
 */
function sortConnection(socket: Socket, timeoutMs: number, unsorted: Set<Socket>, startTls: () => void): void {
  const abandon = () => socket.destroy();
  unsorted.add(socket);
  socket.once('close', () => unsorted.delete(socket));
  socket.on('error', abandon);
  socket.setTimeout(timeoutMs, abandon);
  socket.once('data', (first: Buffer) => {
    unsorted.delete(socket);
    socket.pause();
    socket.unshift(first);
    socket.setTimeout(0);
    if (HTTP_METHOD_START.test(String.fromCharCode(first[0]!))) return answerPlainHttp(socket);
    socket.off('error', abandon);
    startTls();
  });
}

function answerPlainHttp(socket: Socket): void {
  socket.resume();
  socket.end(
    'HTTP/1.1 400 Bad Request\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(PLAIN_HTTP_HINT)}\r\n` +
      'Connection: close\r\n\r\n' +
      PLAIN_HTTP_HINT,
  );
}

function listen(server: Server, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') return reject(new Error('server has no TCP address'));
      resolve({ host: address.address, port: address.port });
    });
  });
}
