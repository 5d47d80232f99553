import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from './config/config.js';
import { KeyedMutex } from './core/keyed-mutex.js';
import type { LockService } from './core/locks.js';
import { systemClock, type Clock } from './core/time.js';
import { describePostgres, postgresSettings } from './metadata/postgres/postgres-settings.js';
import type { SqlDatabase } from './metadata/sql/database.js';
import { SqliteDatabase } from './metadata/sql/sqlite-database.js';
import { SqlMetadataStore } from './metadata/sql/sql-store.js';
import { BlobStore } from './storage/blob-store.js';
import type { StorageDriver } from './storage/driver.js';
import { FilesystemDriver } from './storage/filesystem-driver.js';
import { FilesystemUploadStorage } from './storage/filesystem-uploads.js';
import { SpooledUploadStorage } from './storage/spooled-uploads.js';
import type { FollowableUploadStorage, UploadStorage } from './storage/upload-storage.js';
import type { RegistryBackends } from './core/registry.js';
import { nativeSessionDigests, portableSessionDigests } from './core/resumable-digest.js';

/**
 * The storage half of the composition root: the one place that picks where bytes live
 * (filesystem | S3), where metadata lives (SQLite | PostgreSQL), and with them the locks and
 * upload digests (one process | replicas). Apart from app.ts so command-line tools open the
 * stores without loading the HTTP server.
 */
export interface Stores extends RegistryBackends {
  driver: StorageDriver;
  /** As registry:2 names its drivers in metrics (`filesystem`, `s3aws`). */
  driverName: string;
  /** The metadata database, for the access store beside the metadata; the metadata store closes it. */
  database: SqlDatabase;
  /**
   * The local data directory, which one process owns (DataDirectoryLock: SQLite, filesystem
   * storage, the control socket); absent where replicas share storage and database.
   */
  dataDirectory?: string;
  /** Closes the metadata store, the locks' connections and the object store's sockets. */
  close(): Promise<void>;
}

export async function openStores(config: Config, clock: Clock = systemClock): Promise<Stores> {
  const database = await openDatabase(config);
  const metadata = await SqlMetadataStore.open(database, clock);
  const storage = await openStorage(config);
  const { locks, closeLocks } = await openLocks(config);
  const replicated = sharedByReplicas(config);
  const close = async () => {
    await closeLocks();
    await metadata.close();
    await storage.close();
  };
  return {
    ...storage,
    metadata,
    blobs: new BlobStore(storage.driver, metadata),
    database,
    locks,
    // A session's chunks may reach any replica, and S3 cannot read an upload back: its digest
    // state is saved with it (hash-wasm). Otherwise the live digest stays in memory between
    // chunks (the faster native one), re-read from the file after a restart.
    digests: replicated || config.storage.s3 ? portableSessionDigests : nativeSessionDigests,
    replicated,
    ...(!replicated && { dataDirectory: config.storage.driver.rootDirectory }),
    close,
  };
}

/** S3 storage and PostgreSQL: nothing local that another replica would need, so any number may serve. */
export function sharedByReplicas(config: Config): boolean {
  return config.database.kind === 'postgres' && config.storage.s3 !== undefined;
}

interface OpenedStorage {
  driver: StorageDriver;
  driverName: string;
  uploads: UploadStorage;
  spool: FollowableUploadStorage;
  close(): Promise<void>;
}

/** The filesystem in the data directory, or an S3-compatible bucket (`storage.s3`). */
async function openStorage(config: Config): Promise<OpenedStorage> {
  const s3 = config.storage.s3;
  if (!s3) {
    const root = config.storage.driver.rootDirectory;
    const uploads = new FilesystemUploadStorage(root);
    return { driver: new FilesystemDriver(root), driverName: 'filesystem', uploads, spool: uploads, close: async () => {} };
  }
  // Loaded only when configured: the S3 client is most of a start-up's module loading.
  const { createS3Storage } = await import('./storage/s3/index.js');
  const storage = createS3Storage(s3);
  // Proxy fills are followed while they arrive, which S3 uploads cannot be: a local spool.
  const spoolDirectory = await mkdtemp(join(tmpdir(), 'berth-spool-'));
  return {
    driver: storage.driver,
    driverName: 's3aws',
    uploads: storage.uploads,
    spool: new SpooledUploadStorage(new FilesystemUploadStorage(spoolDirectory), storage.uploads),
    close: async () => {
      storage.close();
      await rm(spoolDirectory, { recursive: true, force: true });
    },
  };
}

/** Embedded: a mutex in this process. PostgreSQL: advisory locks on a pool of their own (no connection until used). */
async function openLocks(config: Config): Promise<{ locks: LockService; closeLocks(): Promise<void> }> {
  if (config.database.kind === 'sqlite') return { locks: new KeyedMutex(), closeLocks: async () => {} };
  const [{ default: pg }, { PostgresLockService }] = await Promise.all([import('pg'), import('./metadata/postgres/postgres-locks.js')]);
  const locks = new PostgresLockService(new pg.Pool(postgresSettings(config.database.postgres).settings));
  return { locks, closeLocks: () => locks.close() };
}

/** Where the metadata lives, for the startup line: a path, or `user@host:port/dbname` (never the password). */
export function describeDatabase(config: Config): string {
  return config.database.kind === 'sqlite' ? config.database.path : describePostgres(config.database.postgres);
}

/** SQLite in the data directory, or PostgreSQL with `database.enabled`; not migrated yet. */
export async function openDatabase(config: Config): Promise<SqlDatabase> {
  if (config.database.kind === 'sqlite') return new SqliteDatabase(config.database.path);
  const { settings, description } = postgresSettings(config.database.postgres);
  // Loaded only when configured, as the S3 client is.
  const { openPostgresDatabase } = await import('./metadata/postgres/postgres-database.js');
  return openPostgresDatabase(settings, description);
}
