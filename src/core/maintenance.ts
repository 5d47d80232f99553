import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { MetadataStore } from '../metadata/store.js';
import { CollectionInProgressError, type GarbageCollector } from './garbage-collector.js';
import type { UploadService } from './uploads.js';

/**
 * Background work of a running server: its heartbeat (so offline tools know it is there),
 * upload purging and scheduled garbage collection. Every timer is unref'd and stopped on close.
 */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** An instance whose heartbeat is older than this is considered gone. */
export const INSTANCE_TIMEOUT_MS = 3 * HEARTBEAT_INTERVAL_MS;

export interface MaintenanceDependencies {
  config: Config['storage'];
  metadata: MetadataStore;
  uploads: UploadService;
  collector: GarbageCollector;
  instanceId: string;
  log: Logger;
}

export function startMaintenance(deps: MaintenanceDependencies): () => Promise<void> {
  const { config, metadata, uploads, collector, instanceId, log } = deps;
  const timers: NodeJS.Timeout[] = [];
  const every = (intervalMs: number, task: () => Promise<void>, runNow: boolean) => {
    if (runNow) void task();
    const timer = setInterval(() => void task(), intervalMs);
    timer.unref();
    timers.push(timer);
  };
  const startedAt = Date.now();

  every(HEARTBEAT_INTERVAL_MS, async () => {
    try {
      await metadata.heartbeat(instanceId, startedAt);
    } catch (error) {
      log.warn({ err: error }, 'heartbeat failed');
    }
  }, true);

  if (config.uploadPurging.enabled && !config.readOnly) {
    const { ageMs, dryRun } = config.uploadPurging;
    every(config.uploadPurging.intervalMs, async () => {
      try {
        const purged = await uploads.purge(Date.now() - ageMs, dryRun);
        if (purged.length > 0) log.info({ count: purged.length, dryRun }, dryRun ? 'stale uploads found (dry run)' : 'stale uploads purged');
      } catch (error) {
        log.error({ err: error }, 'upload purge failed');
      }
    }, true);
  }

  if (config.gc.enabled && !config.readOnly) {
    const { graceMs, deleteUntagged, dryRun } = config.gc;
    every(config.gc.intervalMs, async () => {
      try {
        await collector.collect({ graceMs, deleteUntagged, dryRun });
      } catch (error) {
        if (error instanceof CollectionInProgressError) log.info('scheduled garbage collection skipped: another one is running');
        else log.error({ err: error }, 'garbage collection failed');
      }
    }, false);
  }

  return async () => {
    for (const timer of timers) clearInterval(timer);
    await metadata.removeInstance(instanceId).catch(() => undefined);
  };
}
