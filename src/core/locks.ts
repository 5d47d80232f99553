/**
 * Sections by key, across every process sharing the registry's data. Every path that links a
 * blob into a repository (upload commit, mount, proxy fill) holds the blob digest's lock shared —
 * pushes of one layer to many repositories do not wait for each other —; a manifest PUT,
 * garbage collection, and a refused push taking its bytes back hold it exclusively (see
 * `garbage-collector.ts`); an upload session's writer holds the session's exclusively. Implementations: `KeyedMutex` (one process: the embedded
 * default) and PostgreSQL advisory locks (replicas).
 */
export interface LockService {
  /** Waits for the key's lock, runs `section` holding it alone. */
  run<T>(key: string, section: () => Promise<T>): Promise<T>;
  /** Waits until no exclusive section holds the key, runs `section` beside other shared ones. */
  runShared<T>(key: string, section: () => Promise<T>): Promise<T>;
  /**
   * Runs `section` holding every key's lock. Whoever holds several keys takes them in sorted
   * order, and whoever holds one never waits for another while holding it: no deadlock.
   */
  runAll<T>(keys: string[], section: () => Promise<T>): Promise<T>;
}
