import type { MetadataStore } from '../metadata/store.js';
import type { StorageDriver } from '../storage/driver.js';
import { layout } from '../storage/layout.js';
import { TASKS, timerScheduler, type Scheduler } from './time.js';

/**
 * `health.storagedriver` as registry:2 runs it: the storage driver is probed on an interval,
 * and after `threshold` consecutive failures the registry answers 503 until a probe passes.
 * The metadata database is probed with it.
 */
export interface HealthStatus {
  healthy: boolean;
  checks: Record<string, { ok: boolean; consecutiveFailures: number; lastError?: string; checkedAt?: string }>;
}

interface CheckState {
  ok: boolean;
  consecutiveFailures: number;
  lastError?: string;
  checkedAt?: string;
}

export class HealthMonitor {
  private readonly storage: CheckState = { ok: true, consecutiveFailures: 0 };
  private readonly database: CheckState = { ok: true, consecutiveFailures: 0 };
  private stopChecks: (() => void) | undefined;

  constructor(
    private readonly driver: StorageDriver,
    private readonly metadata: MetadataStore,
    private readonly options: { enabled: boolean; intervalMs: number; threshold: number },
    private readonly scheduler: Scheduler = timerScheduler,
  ) {}

  start(): void {
    if (!this.options.enabled || this.stopChecks) return;
    void this.checkNow();
    this.stopChecks = this.scheduler.every(TASKS.storageHealth, this.options.intervalMs, () => this.checkNow());
  }

  stop(): void {
    this.stopChecks?.();
    this.stopChecks = undefined;
  }

  async checkNow(): Promise<HealthStatus> {
    await record(this.storage, this.options.threshold, () => this.probeStorage());
    await record(this.database, this.options.threshold, () => this.metadata.ping());
    return this.status();
  }

  /**
   * Readiness: storage and database probed now, each failure counted at once (no threshold),
   * without touching the periodic checks' state.
   */
  async ready(): Promise<HealthStatus> {
    const storage: CheckState = { ok: true, consecutiveFailures: 0 };
    const database: CheckState = { ok: true, consecutiveFailures: 0 };
    await record(storage, 1, () => this.probeStorage());
    await record(database, 1, () => this.metadata.ping());
    return { healthy: storage.ok && database.ok, checks: { storagedriver: storage, database } };
  }

  /** One probe at a time: the periodic check and a readiness probe share the probe object's key. */
  private probeStorage(): Promise<void> {
    const probe = this.lastProbe.then(() => this.writeProbe(), () => this.writeProbe());
    this.lastProbe = probe.catch(() => undefined);
    return probe;
  }

  private lastProbe: Promise<void> = Promise.resolve();

  private async writeProbe(): Promise<void> {
    const key = layout.healthProbe();
    await this.driver.writeAtomic(key, Buffer.from('ok'));
    if (!(await this.driver.stat(key))) throw new Error('probe object vanished after writing');
    await this.driver.delete(key);
  }

  status(): HealthStatus {
    return {
      healthy: this.storage.ok && this.database.ok,
      checks: { storagedriver: { ...this.storage }, database: { ...this.database } },
    };
  }
}

async function record(state: CheckState, threshold: number, probe: () => Promise<void>): Promise<void> {
  state.checkedAt = new Date().toISOString();
  try {
    await probe();
    state.consecutiveFailures = 0;
    state.ok = true;
    delete state.lastError;
  } catch (error) {
    state.consecutiveFailures += 1;
    state.lastError = (error as Error).message;
    if (state.consecutiveFailures >= threshold) state.ok = false;
  }
}
