import pg from 'pg';
import type { Config } from './config/config.js';
import { KeyedMutex } from './core/keyed-mutex.js';
import type { LockService } from './core/locks.js';
import { PostgresLockService } from './metadata/postgres/postgres-locks.js';
import { systemClock, type Clock } from './core/time.js';
import { openPostgresDatabase } from './metadata/postgres/postgres-database.js';
import { describePostgres, postgresSettings } from './metadata/postgres/postgres-settings.js';
import type { SqlDatabase } from './metadata/sql/database.js';
import { SqliteDatabase } from './metadata/sql/sqlite-database.js';
import { SqlMetadataStore } from './metadata/sql/sql-store.js';
import type { MetadataStore } from './metadata/store.js';
import { BlobStore } from './storage/blob-store.js';
import type { StorageDriver } from './storage/driver.js';
import { FilesystemDriver } from './storage/filesystem-driver.js';

/**
 * The storage half of the composition root: the one place that picks the storage driver and
 * the metadata database. Apart from app.ts so command-line tools open the stores without
 * loading the HTTP server.
 */
export interface Stores {
  driver: StorageDriver;
  metadata: MetadataStore;
  blobs: BlobStore;
  /** The metadata database, for the access store beside the metadata; the metadata store closes it. */
  database: SqlDatabase;
  /** Per-digest and per-session locks: in this process, or across replicas on PostgreSQL. */
  locks: LockService;
  /** Closes the metadata store and the locks' connections. */
  close(): Promise<void>;
}

export async function openStores(config: Config, clock: Clock = systemClock): Promise<Stores> {
  const database = openDatabase(config);
  const metadata = await SqlMetadataStore.open(database, clock);
  const driver: StorageDriver = new FilesystemDriver(config.storage.driver.rootDirectory);
  const { locks, closeLocks } = openLocks(config);
  const close = async () => {
    await closeLocks();
    await metadata.close();
  };
  return { driver, metadata, blobs: new BlobStore(driver), database, locks, close };
}

/** Embedded: a mutex in this process. PostgreSQL: advisory locks on a pool of their own (no connection until used). */
function openLocks(config: Config): { locks: LockService; closeLocks(): Promise<void> } {
  if (config.database.kind === 'sqlite') return { locks: new KeyedMutex(), closeLocks: async () => {} };
  const locks = new PostgresLockService(new pg.Pool(postgresSettings(config.database.postgres).settings));
  return { locks, closeLocks: () => locks.close() };
}

/** Where the metadata lives, for the startup line: a path, or `user@host:port/dbname` (never the password). */
export function describeDatabase(config: Config): string {
  return config.database.kind === 'sqlite' ? config.database.path : describePostgres(config.database.postgres);
}

/** SQLite in the data directory, or PostgreSQL with `database.enabled`; not migrated yet. */
export function openDatabase(config: Config): SqlDatabase {
  if (config.database.kind === 'sqlite') return new SqliteDatabase(config.database.path);
  const { settings, description } = postgresSettings(config.database.postgres);
  return openPostgresDatabase(settings, description);
}
