/**
 * Serialises async sections per key (a blob digest), in this process. Garbage collection
 * and every path that makes a blob reachable take the digest's lock; see
 * `garbage-collector.ts`. Scale-out replicas will need a database-backed lock with the same
 * interface (PostgreSQL advisory locks).
 */
export class KeyedMutex {
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

  /**
   * Runs `section` holding every key's lock. Whoever holds several keys (garbage collection,
   * imports) takes them in sorted order, and whoever holds one never waits for another while
   * holding it: no cycle, so no deadlock.
   */
  runAll<T>(keys: string[], section: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const enter = (index: number): Promise<T> => (index === sorted.length ? section() : this.run(sorted[index]!, () => enter(index + 1)));
    return enter(0);
  }
}
