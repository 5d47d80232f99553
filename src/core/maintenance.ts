import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { CollectionInProgressError, type GarbageCollector } from './garbage-collector.js';
import type { Registry } from './registry.js';
import { TASKS, type Clock, type Scheduler } from './time.js';

/**
 * Background work of a running server: its heartbeat (so offline tools know it is there),
 * last-pulled times and blob touches written in batches, upload purging, and scheduled retention
 * followed by garbage collection, and the expiry of proxies' cached images. Every task runs on the injected scheduler and is stopped on close.
 */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** An instance whose heartbeat is older than this is considered gone. */
export const INSTANCE_TIMEOUT_MS = 3 * HEARTBEAT_INTERVAL_MS;
const BATCH_FLUSH_INTERVAL_MS = 30_000;

export interface MaintenanceDependencies {
  config: Config['storage'];
  registry: Registry;
  collector: GarbageCollector;
  instanceId: string;
  log: Logger;
  clock: Clock;
  scheduler: Scheduler;
}

export function startMaintenance(deps: MaintenanceDependencies): () => Promise<void> {
  const { config, registry, collector, instanceId, log, clock, scheduler } = deps;
  const { metadata, uploads } = registry;
  const stops: (() => void)[] = [];
  const every = (name: string, intervalMs: number, task: () => Promise<void>, runNow: boolean) => {
    if (runNow) void task();
    stops.push(scheduler.every(name, intervalMs, task));
  };
  const startedAt = clock();

  every(TASKS.heartbeat, HEARTBEAT_INTERVAL_MS, async () => {
    try {
      await metadata.heartbeat(instanceId, startedAt);
    } catch (error) {
      log.warn({ err: error }, 'heartbeat failed');
    }
  }, true);

  const flushBatches = async () => {
    await registry.pulls.flush().catch((error: unknown) => log.warn({ err: error }, 'recording last-pulled times failed'));
    await registry.touches.flush().catch((error: unknown) => log.warn({ err: error }, 'recording blob touches failed'));
  };
  every(TASKS.batchFlush, BATCH_FLUSH_INTERVAL_MS, flushBatches, false);

  if (config.uploadPurging.enabled && !config.readOnly) {
    const { ageMs, dryRun } = config.uploadPurging;
    every(TASKS.uploadPurge, config.uploadPurging.intervalMs, async () => {
      try {
        const purged = await uploads.purge(clock() - ageMs, dryRun);
        if (purged.length > 0) log.info({ count: purged.length, dryRun }, dryRun ? 'stale uploads found (dry run)' : 'stale uploads purged');
      } catch (error) {
        log.error({ err: error }, 'upload purge failed');
      }
    }, true);
  }

  if (!config.readOnly) {
    for (const proxy of registry.expiringProxies()) {
      every(`${TASKS.proxyExpiry}:${proxy.name}`, proxy.expiryIntervalMs!, async () => {
        try {
          const removed = await proxy.expire!();
          if (removed.length > 0) log.info({ proxy: proxy.name, images: removed.length, removed: removed.slice(0, 20) }, 'expired cached images removed (bytes are freed by the next garbage collection)');
        } catch (error) {
          log.error({ err: error, proxy: proxy.name }, 'proxy cache expiry failed');
        }
      }, true);
    }
  }

  if (config.gc.enabled && !config.readOnly) {
    const { graceMs, deleteUntagged, dryRun } = config.gc;
    every(TASKS.gc, config.gc.intervalMs, async () => {
      try {
        if (registry.policies.hasRetention) {
          const retention = await registry.retention.run(dryRun);
          if (retention.tags.length > 0) log.info({ tags: retention.tags.length, manifests: retention.manifests.length, dryRun }, 'retention applied');
        }
        await collector.collect({ graceMs, deleteUntagged, dryRun });
      } catch (error) {
        if (error instanceof CollectionInProgressError) log.info('scheduled garbage collection skipped: another one is running');
        else log.error({ err: error }, 'garbage collection failed');
      }
    }, false);
  }

  return async () => {
    for (const stop of stops) stop();
    await flushBatches();
    await metadata.removeInstance(instanceId).catch(() => undefined);
  };
}
