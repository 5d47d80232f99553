import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { ByteRange } from '../oci/ranges.js';
import type { ObjectReader, StorageDriver, StoredObject } from './driver.js';
import { layout } from './layout.js';

/**
 * Content-addressed bytes over a driver. Knows nothing of repositories: whether a blob is
 * visible in one is the database's answer. Objects are immutable once stored, so a
 * digest always names the same bytes.
 */
export class BlobStore {
  constructor(readonly driver: StorageDriver) {}

  stat(digest: Digest): Promise<StoredObject | undefined> {
    return this.driver.stat(layout.blob(digest));
  }

  /** A stream, for reading content in-process (manifests). */
  read(digest: Digest, range?: ByteRange): Promise<Readable> {
    return this.driver.read(layout.blob(digest), range);
  }

  /** For serving: the driver's cheapest copy into a response. */
  open(digest: Digest, range?: ByteRange): Promise<ObjectReader> {
    return this.driver.open(layout.blob(digest), range);
  }

  /** Stores small content (manifests) whose digest the caller has already verified. */
  async putVerified(digest: Digest, bytes: Buffer): Promise<void> {
    if (await this.driver.stat(layout.blob(digest))) return;
    await this.driver.writeAtomic(layout.blob(digest), bytes);
  }

  /**
   * Makes bytes the caller has verified, stored under another key of the same driver (a
   * registry:2 blob being adopted), this digest's blob: shared rather than copied where the
   * driver can. A blob already present wins (same bytes).
   */
  adopt(sourceKey: string, digest: Digest): Promise<void> {
    return this.driver.copy(sourceKey, layout.blob(digest));
  }

  /** Garbage collection only. */
  delete(digest: Digest): Promise<void> {
    return this.driver.delete(layout.blob(digest));
  }
}
