/**
 * Exclusive sections by key, across every process sharing the registry's data. Garbage
 * collection and every path that makes a blob reachable take the blob digest's lock (see
 * `garbage-collector.ts`); an upload session's writer takes the session's. Implementations:
 * `KeyedMutex` (one process: the embedded default) and PostgreSQL advisory locks (replicas).
 */
export interface LockService {
  /** Waits for the key's lock, runs `section` holding it. */
  run<T>(key: string, section: () => Promise<T>): Promise<T>;
  /**
   * Runs `section` holding every key's lock. Whoever holds several keys takes them in sorted
   * order, and whoever holds one never waits for another while holding it: no deadlock.
   */
  runAll<T>(keys: string[], section: () => Promise<T>): Promise<T>;
}
