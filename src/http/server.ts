import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TlsConfig } from '../config/config.js';

/** Listening is apart from building, so tests run the real server on an ephemeral port. */
export function createServer(handler: (req: IncomingMessage, res: ServerResponse) => void, tls?: TlsConfig): Server {
  const options = {
    // Slow clients pushing large layers must not be cut off; idle keep-alive sockets may be.
    requestTimeout: 0,
    keepAliveTimeout: 75_000,
    headersTimeout: 60_000,
  };
  if (!tls) return createHttpServer(options, handler);
  return createHttpsServer(
    {
      ...options,
      cert: readFileSync(tls.certificate),
      key: readFileSync(tls.key),
      minVersion: tls.minimumVersion,
      ...(tls.clientCas.length > 0 ? { ca: tls.clientCas.map((path) => readFileSync(path)), requestCert: true, rejectUnauthorized: true } : {}),
    },
    handler,
  );
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
