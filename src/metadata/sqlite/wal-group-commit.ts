import { open } from 'node:fs/promises';

/**
 * Durable commits without an fsync per commit on the event loop. SQLite commits with
 * `synchronous=NORMAL` (its WAL frames reach the OS, not the disk) and the caller then waits
 * for `durable()`: an `fdatasync` of the WAL file on libuv's thread pool, shared by every
 * commit whose frames were written before it started (a group commit). `synchronous=FULL`
 * paid one fsync per commit on the main thread, where nothing else can run meanwhile.
 *
 * Why this is as durable as FULL: a commit is the frames appended to the WAL; fsync is per
 * file, not per descriptor, so once an `fdatasync` that began after the frames were written
 * returns, they survive a power cut (SQLite's recovery replays every frame with a valid
 * checksum up to the last commit frame). A WAL that no longer exists was checkpointed into the
 * database file, which SQLite syncs itself before it drops the WAL. Other connections may read
 * a commit before it is durable; only its own caller's acknowledgement waits, and a later
 * commit that depends on it lies after it in the WAL, so its own sync covers both.
 */
export class WalGroupCommit {
  /** The fdatasync running now, if any. */
  private running: Promise<void> | undefined;
  /** The one queued to start when `running` ends: callers that came after `running` began share it. */
  private queued: Promise<void> | undefined;

  /** `sync` makes everything written to the WAL so far durable (see `syncWal`). */
  constructor(private readonly sync: () => Promise<void>) {}

  /** Resolves when everything written to the WAL before this call is on disk. */
  durable(): Promise<void> {
    if (!this.running) return this.start();
    if (!this.queued) {
      const next = () => {
        this.queued = undefined;
        return this.start();
      };
      this.queued = this.running.then(next, next);
    }
    return this.queued;
  }

  private start(): Promise<void> {
    const run = this.sync();
    this.running = run;
    const clear = () => {
      if (this.running === run) this.running = undefined;
    };
    run.then(clear, clear);
    return run;
  }
}

/** An fdatasync of the WAL, opened per round: it is deleted and recreated when the database is closed and reopened. */
export async function syncWal(walPath: string): Promise<void> {
  const handle = await open(walPath, 'r').catch((error: unknown) => ((error as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : Promise.reject(error)));
  if (!handle) return;
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
