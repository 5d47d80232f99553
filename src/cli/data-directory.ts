import { openStores, type Stores } from '../app-stores.js';
import type { Config } from '../config/config.js';
import { DataDirectoryInUseError, DataDirectoryLock, controlSocketPath } from '../storage/data-directory-lock.js';

/**
 * Runs a maintenance command the one safe way: through the server that holds the data
 * directory (`viaServer`, given its control socket), or — when none does — directly on the
 * stores (`direct`), holding the directory's lock so that no server starts meanwhile.
 */
export async function withDataDirectory<T>(
  config: Config,
  viaServer: (socketPath: string) => Promise<T>,
  direct: (stores: Stores, lock: DataDirectoryLock) => Promise<T>,
): Promise<T> {
  const directory = config.storage.driver.rootDirectory;
  let lock: DataDirectoryLock;
  try {
    lock = DataDirectoryLock.acquire(directory);
  } catch (error) {
    if (error instanceof DataDirectoryInUseError) return viaServer(controlSocketPath(directory));
    throw error;
  }
  try {
    const stores = await openStores(config);
    try {
      return await direct(stores, lock);
    } finally {
      await stores.metadata.close();
    }
  } finally {
    lock.release();
  }
}
