import type { Config } from './config/config.js';
import { systemClock, type Clock } from './core/time.js';
import { openPostgresDatabase } from './metadata/postgres/postgres-database.js';
import { postgresSettings } from './metadata/postgres/postgres-settings.js';
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
}

export async function openStores(config: Config, clock: Clock = systemClock): Promise<Stores> {
  const database = openDatabase(config);
  const metadata = await SqlMetadataStore.open(database, clock);
  const driver: StorageDriver = new FilesystemDriver(config.storage.driver.rootDirectory);
  return { driver, metadata, blobs: new BlobStore(driver), database };
}

/** SQLite in the data directory, or PostgreSQL with `database.enabled`; not migrated yet. */
export function openDatabase(config: Config): SqlDatabase {
  if (config.database.kind === 'sqlite') return new SqliteDatabase(config.database.path);
  const { settings, description } = postgresSettings(config.database.postgres);
  return openPostgresDatabase(settings, description);
}
