import type { Digest } from '../oci/digest.js';
import type { RepositoryName } from '../oci/names.js';

export interface TimedEvent {
  repository: RepositoryName;
  digest: Digest;
  at: number;
}

/**
 * The newest time of an event per (repository, digest), kept cheap: recording only sets a map
 * entry; `flush` writes the batch in one call now and then (and on shutdown). Used for
 * last-pulled times (retention) and blob touches (garbage-collection grace).
 */
export class BatchedTimes {
  private pending = new Map<string, TimedEvent>();
  private held = false;

  constructor(
    private readonly write: (batch: TimedEvent[]) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  record(repository: RepositoryName, digest: Digest): void {
    const key = `${repository}@${digest}`;
    const entry = this.pending.get(key);
    if (entry) entry.at = this.now();
    else this.pending.set(key, { repository, digest, at: this.now() });
  }

  /** The newest time recorded for the pair since the last flush, if any. */
  recorded(repository: RepositoryName, digest: Digest): number | undefined {
    return this.pending.get(`${repository}@${digest}`)?.at;
  }

  /**
   * Flushes, then keeps every later event in memory (where `recorded` sees it) until the
   * returned release is called: a collection reads touches from both places and must not
   * miss one that moved from memory to the database while it was looking.
   */
  async flushAndHold(): Promise<() => void> {
    await this.flush();
    this.held = true;
    return () => {
      this.held = false;
    };
  }

  async flush(): Promise<void> {
    if (this.held || this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    await this.write(batch);
  }
}
