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

/** Listening is apart from building, so tests run the real server on an ephemeral port. */
export function createServer(handler: (req: IncomingMessage, res: ServerResponse) => void, limits: ServerLimits): Server {
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
  const server = !tls
    ? createHttpServer(options, handler)
    : createHttpsServer(
        {
          ...options,
          cert: readFileSync(tls.certificate),
          key: readFileSync(tls.key),
          minVersion: tls.minimumVersion,
          ...(tls.clientCas.length > 0 ? { ca: tls.clientCas.map((path) => readFileSync(path)), requestCert: true, rejectUnauthorized: true } : {}),
        },
        handler,
      );
  // A socket that neither sends nor receives for this long is destroyed: a body that stops
  // arriving ends its request (and releases its upload session) instead of holding it forever.
  server.setTimeout(timeouts.idleMs);
  capConnectionsPerClient(server, limits.maxConnectionsPerClient, limits.onRefused);
  return server;
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

export function listen(server: Server, host: string, port: number): Promise<{ host: string; port: number }> {
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
