import type { Digest } from '../oci/digest.js';
import type { StorageDriver } from '../storage/driver.js';
import { layout } from '../storage/layout.js';

/** Where a client can fetch a stored blob itself, so its bytes do not pass through Berth. */
export interface BlobRedirects {
  /** A URL for the blob's bytes (a client's Range header applies there too); undefined: serve it here. */
  locate(digest: Digest): Promise<string | undefined>;
}

/** registry:2 presigns blob URLs for 20 minutes: long enough for a slow layer pull to start. */
export const REDIRECT_SECONDS = 20 * 60;

/**
 * Presigned GETs when the driver can make them and `storage.redirect.disable` is off. A blob
 * the store does not hold (a proxy's cache miss, bytes GC removed since the row was read) is
 * served here instead, so a client is never sent to a 404.
 */
export function presignedBlobRedirects(driver: StorageDriver, redirect: { disabled: boolean }): BlobRedirects | undefined {
  const presign = driver.presignGet?.bind(driver);
  if (redirect.disabled || !presign) return undefined;
  return {
    async locate(digest) {
      const key = layout.blob(digest);
      return (await driver.stat(key)) ? presign(key, REDIRECT_SECONDS) : undefined;
    },
  };
}
