import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { SqlDatabase, SqlExecutor, SqlValue, TransactionOptions } from './database.js';
import { sqliteDialect } from './dialect.js';
import { createPrivately } from '../sqlite/private-file.js';

/**
 * `SqlDatabase` on one better-sqlite3 connection. WAL journal with `synchronous=FULL`: a
 * transaction that has returned survives a process kill and a power cut, which is what lets the
 * registry acknowledge a push; relaxed transactions commit with `synchronous=NORMAL` (no fsync
 * of their own, made durable by the next full commit or checkpoint).
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
  /** Runs statements directly: what a transaction's work is given. */
  private readonly direct: SqlExecutor = {
    all: async <Row>(sql: string, params: readonly SqlValue[] = []) => this.prepared(sql).all(...bind(params)) as Row[],
    get: async <Row>(sql: string, params: readonly SqlValue[] = []) => this.prepared(sql).get(...bind(params)) as Row | undefined,
    run: async (sql: string, params: readonly SqlValue[] = []) => this.prepared(sql).run(...bind(params)).changes,
    exec: async (sql: string) => void this.db.exec(sql),
  };

  constructor(path: string) {
    if (path !== ':memory:') createPrivately(path);
    this.description = `sqlite at ${path}`;
    this.queue = path === ':memory:' ? new FileQueue() : FileQueue.of(resolve(path));
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
  }

  all<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.queue.idle ? this.direct.all<Row>(sql, params) : this.queue.add(() => this.direct.all<Row>(sql, params));
  }

  get<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.queue.idle ? this.direct.get<Row>(sql, params) : this.queue.add(() => this.direct.get<Row>(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.queue.idle ? this.direct.run(sql, params) : this.queue.add(() => this.direct.run(sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.queue.idle ? this.direct.exec(sql) : this.queue.add(() => this.direct.exec(sql));
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.queue.add(async () => {
      if (options.relaxed) this.prepared('PRAGMA synchronous = NORMAL').run();
      try {
        this.prepared('BEGIN').run();
        try {
          const result = await work(this.direct);
          this.prepared(options.rollback ? 'ROLLBACK' : 'COMMIT').run();
          return result;
        } catch (error) {
          if (this.db.inTransaction) this.prepared('ROLLBACK').run();
          throw error;
        }
      } finally {
        if (options.relaxed) this.prepared('PRAGMA synchronous = FULL').run();
      }
    });
  }

  /** One process opens an embedded database (the data directory's lock): the queue is enough. */
  exclusively<T>(_name: string, work: () => Promise<T>): Promise<T> {
    return work();
  }

  async close(): Promise<void> {
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
