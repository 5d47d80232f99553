import type { Config } from './config/config.js';
import { systemClock, type Clock } from './core/time.js';
import type { MetadataStore } from './metadata/store.js';
import { SqliteMetadataStore } from './metadata/sqlite/sqlite-store.js';
import { BlobStore } from './storage/blob-store.js';
import type { StorageDriver } from './storage/driver.js';
import { FilesystemDriver } from './storage/filesystem-driver.js';
import { FilesystemUploadStorage } from './storage/filesystem-uploads.js';
import { KeyedMutex } from './core/keyed-mutex.js';
import type { RegistryBackends } from './core/registry.js';
import { nativeSessionDigests } from './core/resumable-digest.js';

/**
 * The storage half of the composition root: the one place that picks the storage driver and
 * the metadata database. Apart from app.ts so command-line tools open the stores without
 * loading the HTTP server.
 */
export interface Stores extends RegistryBackends {
  driver: StorageDriver;
  /** As registry:2 names its drivers in metrics (`filesystem`, `s3aws`). */
  driverName: string;
}

export function openStores(config: Config, clock: Clock = systemClock): Stores {
  const root = config.storage.driver.rootDirectory;
  const driver: StorageDriver = new FilesystemDriver(root);
  const metadata: MetadataStore = new SqliteMetadataStore(config.database.path, clock);
  const uploads = new FilesystemUploadStorage(root);
  // One process owns the data directory (DataDirectoryLock): in-process locks, and a live
  // digest kept in memory between chunks (the fast native one; nothing needs saving).
  return { driver, driverName: 'filesystem', metadata, blobs: new BlobStore(driver), uploads, spool: uploads, locks: new KeyedMutex(), digests: nativeSessionDigests, replicated: false };
}
