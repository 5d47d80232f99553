import type { LockService } from './locks.js';

/** The embedded `LockService`: sections serialised per key in this process. */
export class KeyedMutex implements LockService {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, section: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    await previous;
    try {
      return await section();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  runAll<T>(keys: string[], section: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const enter = (index: number): Promise<T> => (index === sorted.length ? section() : this.run(sorted[index]!, () => enter(index + 1)));
    return enter(0);
  }
}
