import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthMonitor } from '../core/health.js';
import { sendJson } from './respond.js';

/**
 * Kubernetes probes. Liveness answers while the process serves requests at all (a restart
 * would not help with a failing disk). Readiness probes storage and the database now, so a
 * replica whose storage or database fails is taken out of the load balancer at once.
 */
export const PROBES = { live: '/livez', ready: '/readyz' } as const;

export async function answerProbe(req: IncomingMessage, res: ServerResponse, path: string, health: HealthMonitor): Promise<void> {
  if (path === PROBES.live) return sendJson(req, res, 200, { status: 'ok' });
  const readiness = await health.ready();
  sendJson(req, res, readiness.healthy ? 200 : 503, readiness);
}
