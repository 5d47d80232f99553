import type { Config } from './config/config.js';
import { systemClock, type Clock } from './core/time.js';
import type { MetadataStore } from './metadata/store.js';
import { SqliteMetadataStore } from './metadata/sqlite/sqlite-store.js';
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
}

export function openStores(config: Config, clock: Clock = systemClock): Stores {
  const driver: StorageDriver = new FilesystemDriver(config.storage.driver.rootDirectory);
  const metadata: MetadataStore = new SqliteMetadataStore(config.database.path, clock);
  return { driver, metadata, blobs: new BlobStore(driver) };
}
