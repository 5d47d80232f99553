import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { TlsConfig } from '../config/config.js';

/**
 * The server that answers requests and the one that accepts connections. Without TLS they
 * are one node:http server; with TLS a plain TCP server accepts, looks at the first bytes and
 * hands TLS connections to the HTTPS server (documented: emitting 'connection' injects a
 * socket), so plain HTTP sent to the TLS port gets a 400 with a hint, as Go's net/http gives
 * it, instead of a connection closed without a word.
 */
export interface HttpServer {
  /** Answers requests; owns keep-alive connections (closeIdleConnections, closeAllConnections). */
  server: Server;
  /** Listens and accepts; its close() stops accepting and waits for every connection to end. */
  acceptor: NetServer;
}

/** Listening is apart from building, so tests run the real server on an ephemeral port. */
export function createServer(handler: (req: IncomingMessage, res: ServerResponse) => void, tls?: TlsConfig): HttpServer {
  const options = {
    // Slow clients pushing large layers must not be cut off; idle keep-alive sockets may be.
    requestTimeout: 0,
    keepAliveTimeout: 75_000,
    headersTimeout: 60_000,
  };
  if (!tls) {
    const server = createHttpServer(options, handler);
    return { server, acceptor: server };
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
  return { server, acceptor: createNetServer((socket) => sortConnection(socket, server, options.headersTimeout)) };
}

/** The first byte of a plain HTTP request is a method's first letter; a TLS record's is never one. */
const HTTP_METHOD_START = /^[A-Z]$/;

const PLAIN_HTTP_HINT = 'Client sent an HTTP request to an HTTPS server: this registry speaks HTTPS on this port, use https://\n';

/**
 * Reads the connection's first chunk (the ClientHello, or a request line), puts it back and
 * decides. Only that chunk passes through JavaScript: the TLS socket takes over the handle.
 */
function sortConnection(socket: Socket, https: Server, timeoutMs: number): void {
  const abandon = () => socket.destroy();
  socket.on('error', abandon);
  socket.setTimeout(timeoutMs, abandon);
  socket.once('data', (first: Buffer) => {
    socket.pause();
    socket.unshift(first);
    socket.setTimeout(0);
    if (HTTP_METHOD_START.test(String.fromCharCode(first[0]!))) return answerPlainHttp(socket);
    socket.off('error', abandon);
    https.emit('connection', socket);
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

export function listen(server: NetServer, host: string, port: number): Promise<{ host: string; port: number }> {
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
