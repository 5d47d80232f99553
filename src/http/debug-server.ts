import { createServer, type Server } from 'node:http';
import type { HealthMonitor } from '../core/health.js';
import type { Metrics } from './metrics.js';
import { PROBES, answerProbe } from './probes.js';
import { sendJson } from './respond.js';

/**
 * registry:2's debug listener (`http.debug.addr`): `/debug/health`, the Prometheus scrape at
 * `http.debug.prometheus.path` when enabled, and the Kubernetes probes. Kept off the registry's
 * port, as registry:2 does, so scrapes and probes need no credentials and are not exposed with it.
 */
export interface DebugServer {
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export function createDebugServer(health: HealthMonitor, metrics: { metrics: Metrics; path: string } | undefined): DebugServer {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const answer = async () => {
      if (path === '/debug/health') {
        const status = health.status();
        return sendJson(req, res, status.healthy ? 200 : 503, status);
      }
      if (path === PROBES.live || path === PROBES.ready) return answerProbe(req, res, path, health);
      if (metrics && path === metrics.path) {
        const body = await metrics.metrics.registry.metrics();
        res.setHeader('Content-Type', metrics.metrics.registry.contentType);
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      sendJson(req, res, 404, { error: 'not found', paths: ['/debug/health', PROBES.live, PROBES.ready, ...(metrics ? [metrics.path] : [])] });
    };
    answer().catch(() => {
      if (!res.headersSent) sendJson(req, res, 500, { error: 'the debug endpoint failed' });
      else res.destroy();
    });
  });
  return {
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          if (address === null || typeof address === 'string') return reject(new Error('debug server has no TCP address'));
          resolve({ host: address.address, port: address.port });
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
