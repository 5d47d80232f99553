import type { LockService } from './locks.js';

/**
 * The embedded `LockService`: sections serialised per key in this process. A section queues
 * behind every key's current tail at once, in one synchronous step: a section only ever waits
 * for sections that queued before it, so there is no cycle and no deadlock, and a thousand keys
 * cost a thousand promises rather than a thousand nested sections.
 */
export class KeyedMutex implements LockService {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, section: () => Promise<T>): Promise<T> {
    return this.runAll([key], section);
  }

  async runAll<T>(keys: string[], section: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const previous: Promise<void>[] = [];
    const queued = new Map<string, Promise<void>>();
    for (const key of new Set(keys)) {
      const before = this.tails.get(key);
      if (before) previous.push(before);
      const tail = before ? before.then(() => current) : current;
      this.tails.set(key, tail);
      queued.set(key, tail);
    }
    try {
      await Promise.all(previous);
      return await section();
    } finally {
      release();
      for (const [key, tail] of queued) if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
