import { readFile } from 'node:fs/promises';
import type { Endpoint } from './access.js';
import { originOf } from './access.js';
import { clientSteps } from '../tls/auto-tls.js';

/**
 * With `http.tls.auto`: the CA certificate at a well-known URL (`/berth/ca.crt`, public by
 * nature) and the steps for each client (`/berth/tls`), written for the host:port the client used.
 */
export function tlsSetupEndpoint(caPath: string): Endpoint {
  return {
    matches: (path) => path === '/berth/ca.crt' || path === '/berth/tls',
    async handle(req, res, path) {
      try {
        if (path === '/berth/ca.crt') {
          const pem = await readFile(caPath);
          res.setHeader('Content-Type', 'application/x-pem-file');
          res.setHeader('Content-Length', pem.length);
          res.end(req.method === 'HEAD' ? undefined : pem);
          return;
        }
        const text = clientSteps(new URL(originOf(req)).host, caPath);
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end(req.method === 'HEAD' ? undefined : text);
      } catch {
        res.statusCode = 500;
        res.end('the CA certificate cannot be read\n');
      }
    },
  };
}
