/**
 * The two ways Berth depends on time, as seams: what time it is, and running work on an interval.
 * The server uses the system's; tests inject their own so they drive time instead of waiting.
 */

/** Milliseconds since the epoch, as Date.now. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** Runs named background tasks on intervals; `every` returns the function that stops one. */
export interface Scheduler {
  every(name: string, intervalMs: number, task: () => Promise<unknown>): () => void;
}

/** Timers that never keep the process alive. */
export const timerScheduler: Scheduler = {
  every(_name, intervalMs, task) {
    const timer = setInterval(() => void task(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** Task names, so a test can trigger one. */
export const TASKS = {
  heartbeat: 'heartbeat',
  batchFlush: 'batch-flush',
  uploadPurge: 'upload-purge',
  gc: 'gc',
  proxyExpiry: 'proxy-expiry',
  storageHealth: 'storage-health',
} as const;
