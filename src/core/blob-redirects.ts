import { LRUCache } from 'lru-cache';
import type { Digest } from '../oci/digest.js';
import { INLINE_BLOB_MAX_BYTES } from '../storage/blob-store.js';
import type { StorageDriver } from '../storage/driver.js';
import { layout } from '../storage/layout.js';
import { systemClock, type Clock } from './time.js';

/** Where a client can fetch a stored blob itself, so its bytes do not pass through Berth. */
export interface BlobRedirects {
  /** A URL for the blob's bytes (a client's Range header applies there too); undefined: serve it here. */
  locate(blob: { digest: Digest; size: number }): Promise<string | undefined>;
}

/** registry:2 presigns blob URLs for 20 minutes: long enough for a slow layer pull to start. */
export const REDIRECT_SECONDS = 20 * 60;
/**
 * A presigned URL is handed out again for this long after it was signed, so every URL a client
 * gets is still valid for at least REDIRECT_SECONDS minus this (15 minutes): a pull burst of one
 * layer (a fleet deploying an image) costs one signature and one HEAD, not one per client.
 */
export const REDIRECT_REUSE_SECONDS = 5 * 60;
/** URLs kept (about 1 KiB each): the layers being pulled right now. */
const CACHED_URLS = 4096;

/**
 * Presigned GETs when the driver can make them and `storage.redirect.disable` is off. A blob
 * the store does not hold (a proxy's cache miss, bytes GC removed since the row was read) is
 * served here instead, so a client is never sent to a 404. The caller checks the repository's
 * link on every request; what is reused is only the signature and the store's confirmation that
 * it holds the object (content-addressed: GC removes it only once no repository links it).
 */
export function presignedBlobRedirects(driver: StorageDriver, redirect: { disabled: boolean }, now: Clock = systemClock): BlobRedirects | undefined {
  const presign = driver.presignGet?.bind(driver);
  if (redirect.disabled || !presign) return undefined;
  const signed = new LRUCache<Digest, { url: string; reusableUntil: number }>({ max: CACHED_URLS });
  return {
    async locate({ digest, size }) {
      // Small blobs, kept in their rows (see BlobStore), are served here: their bytes cost less than a redirect's round trip.
      if (size <= INLINE_BLOB_MAX_BYTES) return undefined;
      const cached = signed.get(digest);
      if (cached && now() < cached.reusableUntil) return cached.url;
      const key = layout.blob(digest);
      if (!(await driver.stat(key))) return undefined;
      // Stamped before signing: the URL's validity starts no earlier than this.
      const signedAt = now();
      const url = await presign(key, REDIRECT_SECONDS);
      signed.set(digest, { url, reusableUntil: signedAt + REDIRECT_REUSE_SECONDS * 1000 });
      return url;
    },
  };
}
