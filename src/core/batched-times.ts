import type { Digest } from '../oci/digest.js';
import type { RepositoryName } from '../oci/names.js';

export interface TimedEvent {
  repository: RepositoryName;
  digest: Digest;
  at: number;
}

/** Times of events per (repository, digest): last pulls (retention), blob touches (collection grace). */
export interface EventTimes {
  /** Resolves once the time is where a collection will see it. */
  record(repository: RepositoryName, digest: Digest): void | Promise<void>;
  /** The newest time recorded for the pair that only this process knows, if any. */
  recorded(repository: RepositoryName, digest: Digest): number | undefined;
  /** See BatchedTimes. */
  flushAndHold(): Promise<() => void>;
  flush(): Promise<void>;
}

/**
 * The newest time of an event per (repository, digest), kept cheap: recording only sets a map
 * entry; `flush` writes the batch in one call now and then (and on shutdown). One process: a
 * collection in it flushes and sees what is still in memory.
 */
export class BatchedTimes implements EventTimes {
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

/**
 * Each event written before `record` resolves. For replicas: a collection on another replica
 * cannot see this one's memory, so a blob touch must be in the database before the existence
 * check that follows it (then either the collection's unlink sees the touch and keeps the link,
 * or the check finds the link gone and the client uploads again).
 */
export class WrittenTimes implements EventTimes {
  constructor(
    private readonly write: (batch: TimedEvent[]) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  record(repository: RepositoryName, digest: Digest): Promise<void> {
    return this.write([{ repository, digest, at: this.now() }]);
  }

  recorded(): undefined {
    return undefined;
  }

  async flushAndHold(): Promise<() => void> {
    return () => undefined;
  }

  async flush(): Promise<void> {}
}
