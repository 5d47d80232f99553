import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import type { SqlDatabase, SqlExecutor, SqlValue, TransactionOptions } from '../sql/database.js';
import { postgresDialect } from '../sql/dialect.js';

/** SQLSTATEs after which a serializable transaction is simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 30;
/**
 * Transactions that conflicted wait a random while before the next attempt, up to this long:
 * retried at once, a dozen writers of one digest's rows keep cancelling each other.
 */
const MAX_BACKOFF_MS = 100;

/**
 * `SqlDatabase` on a `pg` pool. Transactions run SERIALIZABLE, and run again when PostgreSQL
 * reports a serialisation failure or deadlock: every replica's transactions behave as if they
 * ran one at a time, as on the embedded database, so the stores' rules need no second version.
 * `?` placeholders become `$1, $2…`; each statement is prepared once per connection (named).
 * 64-bit integers and sums come back as JS numbers (times in ms and sizes stay below 2^53).
 */
export class PostgresDatabase implements SqlDatabase {
  readonly dialect = postgresDialect;
  private readonly texts = new Map<string, { name: string; text: string }>();
  private readonly autocommit: SqlExecutor;

  constructor(
    private readonly pool: pg.Pool,
    readonly description: string,
  ) {
    this.autocommit = this.executor(pool);
  }

  all<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.autocommit.all<Row>(sql, params);
  }

  get<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.autocommit.get<Row>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.autocommit.run(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.autocommit.exec(sql);
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return withConnection(this.pool, async (client, connection) => {
      const tx = this.executor(client);
      for (let attempt = 1; ; attempt += 1) {
        await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
        try {
          // Relaxed: the commit returns before its WAL record is flushed (a crash may lose it, never corrupt).
          if (options.relaxed) await client.query('SET LOCAL synchronous_commit = off');
          const result = await work(tx);
          await client.query(options.rollback ? 'ROLLBACK' : 'COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(connection.failed);
          if (connection.failure || !RETRYABLE.has((error as { code?: string }).code ?? '') || attempt === MAX_ATTEMPTS) throw error;
          await delay(Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempt));
        }
      }
    });
  }

  /** A session-level advisory lock, held on a connection of its own while `work` runs. */
  exclusively<T>(name: string, work: () => Promise<T>): Promise<T> {
    return withConnection(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_lock($1)', [lockKey(name)]);
      try {
        return await work();
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [lockKey(name)]);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private executor(target: pg.Pool | pg.PoolClient): SqlExecutor {
    const query = async <Row>(sql: string, params: readonly SqlValue[]) => {
      const result = await target.query<Row & pg.QueryResultRow>({ ...this.statement(sql), values: params as unknown[] });
      return result;
    };
    return {
      all: async <Row>(sql: string, params: readonly SqlValue[] = []) => (await query<Row>(sql, params)).rows,
      get: async <Row>(sql: string, params: readonly SqlValue[] = []) => (await query<Row>(sql, params)).rows[0],
      run: async (sql: string, params: readonly SqlValue[] = []) => (await query(sql, params)).rowCount ?? 0,
      exec: async (sql: string) => void (await target.query(sql)),
    };
  }

  /** The statement's PostgreSQL text and the name it is prepared under. */
  private statement(sql: string): { name: string; text: string } {
    let statement = this.texts.get(sql);
    if (!statement) {
      statement = { name: `berth_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`, text: numberPlaceholders(sql) };
      this.texts.set(sql, statement);
    }
    return statement;
  }
}

/** `?` → `$1, $2…`, outside quoted strings and identifiers. */
export function numberPlaceholders(sql: string): string {
  let index = 0;
  let quote: string | undefined;
  let out = '';
  for (const char of sql) {
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if (char === '?') {
      out += `$${++index}`;
      continue;
    }
    out += char;
  }
  return out;
}

/** What became of a checked-out connection: `failure` once it failed (its session, and any lock it held, is gone). */
export interface ConnectionState {
  readonly failure: Error | undefined;
  /** Records a failure (the first one counts). */
  failed(error: Error): void;
}

/**
 * Runs `use` on a pooled connection, then releases it: dropped from the pool if it failed. A
 * connection that dies between queries emits an error that, unheard, would end the process:
 * here it is recorded instead.
 */
export async function withConnection<T>(pool: pg.Pool, use: (client: pg.PoolClient, connection: ConnectionState) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  const connection = {
    failure: undefined as Error | undefined,
    failed: (error: Error) => void (connection.failure ??= error),
  };
  client.on('error', connection.failed);
  try {
    return await use(client, connection);
  } finally {
    client.off('error', connection.failed);
    client.release(connection.failure);
  }
}

/** A name as a signed 64-bit advisory lock key (the first 8 bytes of its SHA-256). */
export function lockKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

/** Connection settings as `pg` takes them; see `openPostgres` for where they come from. */
export type PostgresSettings = pg.PoolConfig;

/** Opens a pool whose 64-bit integers and numerics come back as numbers. */
export function openPostgresDatabase(settings: PostgresSettings, description: string): PostgresDatabase {
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC ? Number : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
  };
  const pool = new pg.Pool({ ...settings, types });
  // An idle connection that fails (the server restarted) is dropped by the pool; without a
  // listener the error would end the process.
  pool.on('error', () => {});
  return new PostgresDatabase(pool, description);
}
