import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { SqlDatabase, SqlExecutor, SqlValue, TransactionOptions } from './database.js';
import { sqliteDialect } from './dialect.js';
import { createPrivately } from '../sqlite/private-file.js';
import { syncWal, WalGroupCommit } from '../sqlite/wal-group-commit.js';

/**
 * After writes pause this long, the WAL is checkpointed. SQLite's own checkpoint runs inside
 * whichever commit pushes the WAL past 1,000 pages, on the committing thread — here the event
 * loop, blocked ~30 ms while it copies pages and fsyncs the database (measured inside a
 * collection's commit, in the middle of its work). Checkpointing in the pauses between bursts
 * keeps the WAL short, so bursts rarely pay that; a long burst still has SQLite's as a fallback.
 */
const IDLE_CHECKPOINT_MS = 250;

/**
 * `SqlDatabase` on one better-sqlite3 connection. WAL journal: a transaction (or a statement
 * outside one that writes) that has returned survives a process kill and a power cut, which is
 * what lets the registry acknowledge a push. SQLite commits with `synchronous=NORMAL` and the
 * WAL is then synced off the event loop, once for all the commits waiting (`WalGroupCommit`);
 * relaxed transactions do not wait for it (made durable by the next sync or checkpoint).
 *
 * better-sqlite3 runs each statement synchronously, but a transaction's work is async: while
 * one is open, every other transaction and statement waits in a queue, so nothing runs inside
 * another's transaction. With none open, a statement runs at once. The queue is the file's, so
 * two connections to one file in a process (a test's two "replicas") queue together too rather
 * than block each other on SQLite's lock. Statements are prepared once per SQL text and kept.
 */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = sqliteDialect;
  readonly description: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly queue: FileQueue;
  /** Undefined in memory: nothing to make durable. */
  private readonly groupCommit: WalGroupCommit | undefined;
  /** Runs statements directly: what a transaction's work is given. */
  private readonly direct: SqlExecutor = {
    all: async <Row>(sql: string, params: readonly SqlValue[] = []) => this.statement(sql).all(...bind(params)) as Row[],
    get: async <Row>(sql: string, params: readonly SqlValue[] = []) => this.statement(sql).get(...bind(params)) as Row | undefined,
    run: async (sql: string, params: readonly SqlValue[] = []) => this.statement(sql).run(...bind(params)).changes,
    exec: async (sql: string) => {
      this.wrote = true;
      this.db.exec(sql);
    },
  };
  /** Runs the idle checkpoint once writes have paused (see IDLE_CHECKPOINT_MS). */
  private idleCheckpoint: NodeJS.Timeout | undefined;
  /** Told of each idle checkpoint, with what it did (pages); for tests. */
  onCheckpoint?: (result: { log: number; checkpointed: number }) => void;
  /** Whether a statement that writes ran since this was last cleared: only then is there a commit to make durable. */
  private wrote = false;

  constructor(
    path: string,
    private readonly idleCheckpointMs = IDLE_CHECKPOINT_MS,
  ) {
    if (path !== ':memory:') createPrivately(path);
    this.description = `sqlite at ${path}`;
    this.queue = path === ':memory:' ? new FileQueue() : FileQueue.of(resolve(path));
    this.groupCommit = path === ':memory:' ? undefined : new WalGroupCommit(() => syncWal(`${resolve(path)}-wal`));
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
  }

  all<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.outside(sql, () => this.direct.all<Row>(sql, params));
  }

  get<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.outside(sql, () => this.direct.get<Row>(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.outside(sql, () => this.direct.run(sql, params));
  }

  async exec(sql: string): Promise<void> {
    await (this.queue.idle ? this.direct.exec(sql) : this.queue.add(() => this.direct.exec(sql)));
    this.wroteNow();
    await this.groupCommit?.durable();
  }

  /** A statement outside any transaction (its own): one that writes returns once it is durable. */
  private async outside<T>(sql: string, statement: () => Promise<T>): Promise<T> {
    const result = await (this.queue.idle ? statement() : this.queue.add(statement));
    if (this.groupCommit && !this.prepared(sql).readonly) {
      this.wroteNow();
      await this.groupCommit.durable();
    }
    return result;
  }

  private statement(sql: string): Database.Statement {
    const statement = this.prepared(sql);
    if (!statement.readonly) this.wrote = true;
    return statement;
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    let wrote = false;
    const result = await this.queue.add(async () => {
      this.prepared('BEGIN').run();
      this.wrote = false;
      try {
        const result = await work(this.direct);
        this.prepared(options.rollback ? 'ROLLBACK' : 'COMMIT').run();
        wrote = this.wrote && !options.rollback;
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.prepared('ROLLBACK').run();
        throw error;
      }
    });
    if (wrote) this.wroteNow();
    // Outside the queue: the next transactions run while this one's commit reaches the disk.
    if (wrote && !options.relaxed) await this.groupCommit?.durable();
    return result;
  }

  /** A write committed: the idle checkpoint waits for the next pause. */
  private wroteNow(): void {
    if (!this.groupCommit) return;
    if (this.idleCheckpoint) {
      this.idleCheckpoint.refresh();
      return;
    }
    this.idleCheckpoint = setTimeout(() => {
      this.idleCheckpoint = undefined;
      // A transaction running now: its commit will arm the next one.
      if (!this.queue.idle || !this.db.open) return;
      const [result] = this.db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
      if (result) this.onCheckpoint?.({ log: result.log, checkpointed: result.checkpointed });
    }, this.idleCheckpointMs);
  }

  /** One process opens an embedded database (the data directory's lock): the queue is enough. */
  exclusively<T>(_name: string, work: () => Promise<T>): Promise<T> {
    return work();
  }

  async close(): Promise<void> {
    clearTimeout(this.idleCheckpoint);
    await this.queue.add(async () => {
      if (this.db.open) this.db.close();
    });
  }

  private prepared(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** better-sqlite3 binds Buffers, not other byte views. */
function bind(params: readonly SqlValue[]): unknown[] {
  return params.map((value) => (value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value));
}

/** Jobs on one database file, one at a time in order. */
class FileQueue {
  private static readonly files = new Map<string, FileQueue>();
  /** Settles when the last queued job has. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Jobs queued or running: while any is, statements outside them queue too. */
  private queued = 0;

  static of(path: string): FileQueue {
    let queue = FileQueue.files.get(path);
    if (!queue) {
      queue = new FileQueue();
      FileQueue.files.set(path, queue);
    }
    return queue;
  }

  get idle(): boolean {
    return this.queued === 0;
  }

  add<T>(job: () => Promise<T>): Promise<T> {
    this.queued += 1;
    const result = this.tail.then(job);
    this.tail = result.then(
      () => (this.queued -= 1),
      () => (this.queued -= 1),
    );
    return result;
  }
}
