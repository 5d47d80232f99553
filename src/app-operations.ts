import type { Config } from './config/config.js';
import type { CollectionListener, GarbageCollector } from './core/garbage-collector.js';
import type { HealthMonitor } from './core/health.js';
import type { Registry } from './core/registry.js';
import { quotaFor } from './core/repository-policies.js';
import { createDebugServer, type DebugServer } from './http/debug-server.js';
import type { RequestStats } from './http/handler.js';
import { Metrics, type MetricSources } from './http/metrics.js';

/**
 * The operations half of the composition root (metrics, the debug listener, webhooks, the
 * audit trail), beside `app-auth.ts` so `app.ts` stays a short list of choices.
 */
export interface Operations {
  metrics?: Metrics;
  debug?: DebugServer;
}

export function createOperations(config: Config, deps: { registry: Registry; collector: GarbageCollector; health: HealthMonitor; stats: RequestStats; outbox?: MetricSources['outbox'] }): Operations {
  const debug = config.http.debug;
  if (!debug) return {};
  if (!debug.prometheus) return { debug: createDebugServer(deps.health, undefined) };
  const { registry, stats } = deps;
  const metrics = new Metrics({
    clientAborts: () => stats.clientAborts,
    refusedConnections: () => stats.refusedConnections,
    uploadsInProgress: async () => (await registry.metadata.listUploadsUpdatedBefore(Number.MAX_SAFE_INTEGER)).length,
    quotaUsage: async () => (await registry.metadata.listUsage()).map((usage) => {
      const limit = quotaFor(registry.policies.for(usage.repository));
      return { repository: usage.repository, bytes: usage.bytes, ...(limit ? { limitBytes: limit.limitBytes } : {}) };
    }),
    outbox: deps.outbox,
  });
  deps.collector.listeners.push(gcMetrics(metrics));
  return { metrics, debug: createDebugServer(deps.health, { metrics, path: debug.prometheus.path }) };
}

function gcMetrics(metrics: Metrics): CollectionListener {
  return {
    finished(report) {
      if (report.dryRun) return;
      metrics.gcRuns.inc({ outcome: 'succeeded' });
      metrics.gcBytesFreed.inc(report.bytesFreed);
      metrics.gcDuration.observe(report.durationMs / 1000);
    },
    failed() {
      metrics.gcRuns.inc({ outcome: 'failed' });
    },
  };
}
