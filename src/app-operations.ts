import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import type { CollectionListener, GarbageCollector } from './core/garbage-collector.js';
import type { HealthMonitor } from './core/health.js';
import { fetchSender, type WebhookSender } from './core/notifications/delivery.js';
import { EventFactory } from './core/notifications/events.js';
import { Outbox } from './core/notifications/outbox.js';
import { ChangeRecorder } from './core/notifications/recorder.js';
import type { Registry } from './core/registry.js';
import { quotaFor } from './core/repository-policies.js';
import type { Clock, Scheduler } from './core/time.js';
import type { Endpoint } from './http/access.js';
import { createDebugServer, type DebugServer } from './http/debug-server.js';
import type { RequestStats } from './http/handler.js';
import type { AdminAccess } from './http/admin-access.js';
import { Metrics } from './http/metrics.js';
import { operationsApi } from './http/operations-api.js';
import { webhooksRoute } from './http/webhooks-api.js';
import { auditRoutes } from './http/audit-api.js';
import { AuditTrail } from './core/audit.js';
import type { MetadataStore } from './metadata/store.js';
import type { StorageDriver } from './storage/driver.js';
import { TimedDriver, TimedUploadStorage } from './storage/timed-driver.js';
import type { UploadStorage } from './storage/upload-storage.js';
import type { Stores } from './app-stores.js';

/**
 * The operations half of the composition root (metrics, the debug listener, webhooks, the
 * audit trail), beside `app-auth.ts` so `app.ts` stays a short list of choices.
 */

/** A replica that stopped delivering (it died) hands its endpoints over after this long. */
const WEBHOOK_LEASE_MS = 30_000;

/** Events and audit entries for the registry, and the outbox that delivers events when endpoints are configured. */
export function createNotifications(
  config: Config,
  deps: { metadata: MetadataStore; instanceId: string; clock: Clock; scheduler: Scheduler; log: Logger; send?: WebhookSender; replicated?: boolean },
): { recorder: ChangeRecorder; outbox: Outbox } {
  const { endpoints, includePulls } = config.notifications;
  // Replicas: one delivers to each endpoint, while it holds the endpoint's lease (renewed each pass).
  const claim = deps.replicated ? (endpoint: string) => deps.metadata.acquireLease(`webhook:${endpoint}`, deps.instanceId, WEBHOOK_LEASE_MS) : undefined;
  // Always there (with no endpoints it records nothing), so a reload can add the first endpoint.
  const outbox = new Outbox(deps.metadata, endpoints, deps.send ?? fetchSender, deps.clock, deps.scheduler, deps.log.child({ component: 'webhooks' }), claim);
  const events = new EventFactory({ addr: `${hostname()}:${config.http.port}`, instanceId: deps.instanceId }, () => outbox.hasEndpoints, deps.clock);
  return { recorder: new ChangeRecorder(events, outbox, includePulls), outbox };
}

/** The audit trail, told about collections and retention runs. */
export function createAudit(config: Config, deps: { metadata: MetadataStore; registry: Registry; collector: GarbageCollector; clock: Clock; log: Logger }): AuditTrail {
  const audit = new AuditTrail(deps.metadata, deps.clock, deps.log, config.audit.retentionMs);
  deps.collector.listeners.push({ finished: (report) => audit.collectionFinished(report), failed: () => undefined });
  deps.registry.retention.listeners.push((report) => audit.retentionApplied(report));
  return audit;
}

export interface Operations {
  metrics?: Metrics;
  debug?: DebugServer;
  /** Routes under /api/v1 (webhooks, audit). */
  endpoints: Endpoint[];
}

/** Metrics, when `http.debug.prometheus` is on; storage (objects and uploads) is timed through them. */
export function createMetrics(config: Config, stores: Stores): { metrics?: Metrics; driver: StorageDriver; uploads: UploadStorage } {
  const { driver, uploads } = stores;
  if (!config.http.debug?.prometheus) return { driver, uploads };
  const metrics = new Metrics();
  const observe = (action: string, seconds: number) => metrics.storageTimed(stores.driverName, action, seconds);
  return { metrics, driver: new TimedDriver(driver, observe), uploads: new TimedUploadStorage(uploads, observe) };
}

export function createOperations(
  config: Config,
  deps: { registry: Registry; collector: GarbageCollector; health: HealthMonitor; stats: RequestStats; audit: AuditTrail; outbox?: Outbox; access: AdminAccess; metrics?: Metrics },
): Operations {
  const endpoints = [operationsApi([webhooksRoute(deps.outbox), ...auditRoutes(deps.audit)], deps.access)];
  const debug = config.http.debug;
  if (!debug) return { endpoints };
  const { registry, stats, outbox, metrics } = deps;
  if (!debug.prometheus || !metrics) return { endpoints, debug: createDebugServer(deps.health, undefined) };
  metrics.provide({
    clientAborts: () => stats.clientAborts,
    refusedConnections: () => stats.refusedConnections,
    uploadsInProgress: () => registry.uploads.inProgress(),
    quotaUsage: async () => (await registry.metadata.listUsage()).map((usage) => {
      const limit = quotaFor(registry.policies.for(usage.repository));
      return { repository: usage.repository, bytes: usage.bytes, ...(limit ? { limitBytes: limit.limitBytes } : {}) };
    }),
    outbox: async () => (outbox ? (await outbox.states()).map((state) => ({ endpoint: state.name, pending: state.pending })) : []),
  });
  deps.collector.listeners.push(gcMetrics(metrics));
  outbox?.listeners.push({
    delivered: (endpoint, events) => {
      metrics.notificationEvents.inc({ type: 'Successes', endpoint }, events);
    },
    failed: (endpoint) => metrics.notificationEvents.inc({ type: 'Failures', endpoint }),
  });
  return { endpoints, metrics, debug: createDebugServer(deps.health, { metrics, path: debug.prometheus.path }) };
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

/** What a configuration reload (SIGHUP) changed, and what only a restart would change. */
export interface ReloadResult {
  applied: string[];
  restartNeeded: string[];
}

/**
 * Applies what registry:2 users expect a SIGHUP to apply: repository policies, notification
 * endpoints (and pull events), the log level. The htpasswd file is re-read whenever it changes,
 * reload or not. Listeners, storage, the database, TLS and the kind of access control need a
 * restart: they are reported, not half-applied.
 */
export async function reloadConfiguration(
  current: Config,
  next: Config,
  deps: { registry: Registry; outbox: Outbox; recorder: ChangeRecorder; audit: AuditTrail; log: Logger },
): Promise<ReloadResult> {
  const applied: string[] = [];
  const changed = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
  if (changed(current.policies, next.policies)) {
    deps.registry.policies.replace(next.policies);
    applied.push('policies');
  }
  if (changed(current.notifications, next.notifications)) {
    await deps.outbox.reconfigure(next.notifications.endpoints);
    deps.recorder.pullEvents = next.notifications.includePulls;
    applied.push('notifications');
  }
  if (current.log.level !== next.log.level) {
    deps.log.level = next.log.level;
    applied.push('log.level');
  }
  const restartNeeded = (['http', 'storage', 'database', 'auth', 'health', 'audit'] as const).filter((key) => changed(current[key], next[key]));
  deps.audit.record('system', 'config.reload', {}, { detail: { applied, restartNeeded } });
  return { applied, restartNeeded };
}
