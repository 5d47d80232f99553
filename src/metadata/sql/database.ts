import type { Dialect } from './dialect.js';

/**
 * The seam between the metadata stores and a SQL database: statements with `?` placeholders,
 * and transactions. Implemented for better-sqlite3 (`sqlite-database.ts`) and for a `pg` pool
 * (`../postgres/postgres-database.ts`); the stores hold every business rule once, in SQL both
 * databases run, and ask the `dialect` where the two spell something differently.
 */
export type SqlValue = string | number | null | Uint8Array;

export interface SqlExecutor {
  all<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  get<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  /** Returns how many rows the statement changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Runs several statements without parameters (schema definitions). */
  exec(sql: string): Promise<void>;
}

export interface TransactionOptions {
  /**
   * Bookkeeping a power cut may lose without losing acknowledged content (upload offsets,
   * pull times, heartbeats): committed without an fsync of its own where the database allows.
   */
  relaxed?: boolean;
  /** Rolled back at the end on purpose (dry runs): the work sees its own changes, nobody else does. */
  rollback?: boolean;
}

export interface SqlDatabase extends SqlExecutor {
  readonly dialect: Dialect;
  /** Where the database is, for logs: never a password. */
  readonly description: string;
  /**
   * Runs `work` in one transaction, committed when it returns and rolled back when it throws.
   * Transactions never interleave: each sees the database as if it ran alone (PostgreSQL may
   * run `work` again after a serialisation failure, so `work` only touches the database).
   * Inside, use `tx` only: the database's own methods wait for the transaction to end.
   */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Runs `work` while holding the database-wide lock named `name`, for work that must not run
   * twice at once anywhere (schema migrations on replicas starting together).
   */
  exclusively<T>(name: string, work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
