import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';

/**
 * One process at a time serves (or collects directly from) a data directory: its locks for
 * uploads and garbage collection live in that process's memory.
 *
 * The lock is an exclusive SQLite lock on `berth.lock` (an fcntl lock underneath), so the
 * kernel releases it when the holder dies, `kill -9` included: no stale lock file to clean up.
 * `berth.pid` beside it names the holder in messages; found at start, it means the last holder
 * did not stop cleanly, so `berth.sweep` is left until a collection has swept orphaned bytes.
 */
export class DataDirectoryInUseError extends Error {
  constructor(readonly directory: string, readonly holderPid: number | undefined) {
    super(
      `another Berth process${holderPid ? ` (pid ${holderPid})` : ''} is using the data directory ${directory}; ` +
        'run one server per data directory (garbage-collect and import talk to a running server instead)',
    );
    this.name = 'DataDirectoryInUseError';
  }
}

const SWEEP_MARKER = 'berth.sweep';

/**
 * Bytes with no database row appear only when a process dies between writing a blob and
 * recording it (or between forgetting a row and deleting its bytes). Sweeping for them walks
 * the whole blob tree, so a collection does it only after such a death.
 */
export interface OrphanSweep {
  needed(): boolean;
  done(): void;
}

export class DataDirectoryLock {
  private constructor(
    private readonly directory: string,
    private database: Database.Database | undefined,
  ) {}

  /** Takes the lock or throws `DataDirectoryInUseError` at once (it never waits). */
  static acquire(directory: string): DataDirectoryLock {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    const database = new Database(join(directory, 'berth.lock'), { timeout: 0 });
    try {
      // Nothing is ever written but the lock itself: no journal file beside it.
      database.pragma('journal_mode = MEMORY');
      database.pragma('locking_mode = EXCLUSIVE');
      // The first write takes the exclusive lock; in this locking mode it is held until close.
      database.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER); COMMIT');
    } catch (error) {
      database.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY') throw new DataDirectoryInUseError(directory, readHolder(directory));
      throw error;
    }
    // The last holder removes its pid file when it stops; one still here means it died mid-way,
    // possibly between writing bytes and recording them: orphans may exist until swept.
    if (existsSync(join(directory, 'berth.pid'))) writeFileSync(join(directory, SWEEP_MARKER), '', { mode: 0o600 });
    writeFileSync(join(directory, 'berth.pid'), `${process.pid}\n`, { mode: 0o600 });
    return new DataDirectoryLock(directory, database);
  }

  /** Whether a process holds the lock now (it is taken and released at once when free). */
  static isHeld(directory: string): boolean {
    try {
      DataDirectoryLock.acquire(directory).release();
      return false;
    } catch (error) {
      if (error instanceof DataDirectoryInUseError) return true;
      throw error;
    }
  }

  /** Whether orphaned bytes may exist (an unclean stop since the last sweep), and marking them swept. */
  get orphanSweep(): OrphanSweep {
    const marker = join(this.directory, SWEEP_MARKER);
    return { needed: () => existsSync(marker), done: () => rmSync(marker, { force: true }) };
  }

  release(): void {
    if (!this.database) return;
    rmSync(join(this.directory, 'berth.pid'), { force: true });
    this.database.close();
    this.database = undefined;
  }
}

function readHolder(directory: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(directory, 'berth.pid'), 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Unix sockets' path limit (sun_path) is about 107 bytes; keep a margin. */
const MAX_SOCKET_PATH = 100;

/**
 * Where the server holding the data directory listens for its own command line (`berth
 * garbage-collect`, `berth import`, `berth repository rm` beside a running server): inside the
 * directory, which only its owner can enter, or — when that path is too long for a socket — in
 * the temporary directory under a name derived from the data directory's path.
 */
export function controlSocketPath(directory: string): string {
  const inside = join(resolve(directory), 'berth.sock');
  if (Buffer.byteLength(inside) <= MAX_SOCKET_PATH) return inside;
  return join(tmpdir(), `berth-${createHash('sha256').update(resolve(directory)).digest('hex').slice(0, 16)}.sock`);
}
