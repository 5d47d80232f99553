import { Readable, type Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../oci/digest.js';
import type { ByteRange } from '../oci/ranges.js';
import type { ObjectReader, StorageDriver } from './driver.js';
import { layout } from './layout.js';
import type { UploadStorage, UploadStorageState } from './upload-storage.js';

/**
 * Blobs up to this size (manifests, configs, the smallest layers) keep their bytes in their
 * database row rather than in a file or object of their own. A collection then forgets them
 * with their row instead of deleting one file each (on a filesystem mounted `discard`, every
 * unlink trims the device synchronously), and serving one needs no second round trip to S3.
 * Larger content stays in storage, where it streams.
 */
export const INLINE_BLOB_MAX_BYTES = 32 * 1024;

/** Where the bytes of blobs recorded with their content are: the metadata store. */
export interface InlineBlobs {
  inlineBlob(digest: Digest): Promise<Buffer | undefined>;
}

/**
 * Content-addressed bytes over a driver, small ones in their database rows. Knows nothing of
 * repositories: whether a blob is visible in one is the database's answer. Objects are
 * immutable once stored, so a digest always names the same bytes.
 *
 * Writers ask `inlines(size)`: a blob that does is handed to the metadata store with its row
 * (`content`), never written to the driver, so the collector knows from the row alone whether
 * there is a file to delete. Blobs recorded before (or adopted in place) stay in storage
 * whatever their size; a `size` hint lets readers skip the row lookup for large blobs.
 */
export class BlobStore {
  constructor(
    readonly driver: StorageDriver,
    private readonly inline?: InlineBlobs,
  ) {}

  /** Whether a blob of this size is recorded with its bytes in its row. */
  inlines(size: number): boolean {
    return this.inline !== undefined && size <= INLINE_BLOB_MAX_BYTES;
  }

  async stat(digest: Digest, size?: number): Promise<{ size: number } | undefined> {
    const content = await this.inlineContent(digest, size);
    if (content) return { size: content.length };
    return this.driver.stat(layout.blob(digest));
  }

  /** A stream, for reading content in-process (manifests). Throws `ObjectNotFoundError`. */
  async read(digest: Digest, range?: ByteRange, size?: number): Promise<Readable> {
    const content = await this.inlineContent(digest, size);
    if (content) return Readable.from([slice(content, range)]);
    return this.driver.read(layout.blob(digest), range);
  }

  /** The whole blob in memory: for content known to be small (manifests). */
  async readAll(digest: Digest, size?: number): Promise<Buffer> {
    return (await this.inlineContent(digest, size)) ?? buffer(await this.driver.read(layout.blob(digest)));
  }

  /** For serving: the driver's cheapest copy into a response (throws `ObjectNotFoundError`). */
  async open(digest: Digest, range?: ByteRange, size?: number): Promise<ObjectReader> {
    const content = await this.inlineContent(digest, size);
    if (!content) return this.driver.open(layout.blob(digest), range);
    const bytes = slice(content, range);
    return { pipeTo: (destination: Writable, signal?: AbortSignal) => pipeline(Readable.from([bytes]), destination, { signal }) };
  }

  /**
   * Places small content (manifests) whose digest the caller has verified: returns the bytes
   * when they belong in the blob's row (the caller records them there), or stores them and
   * returns undefined.
   */
  async place(digest: Digest, bytes: Buffer): Promise<Buffer | undefined> {
    if (this.inlines(bytes.length)) return bytes;
    if (!(await this.driver.stat(layout.blob(digest)))) await this.driver.writeAtomic(layout.blob(digest), bytes);
    return undefined;
  }

  /**
   * Commits a verified upload the same way: a small one is read back and returned for its row
   * (the upload stays: the caller drops it once the row is written), any other is moved to its
   * content address.
   */
  async placeUpload(uploads: UploadStorage, id: string, state: UploadStorageState, size: number, digest: Digest): Promise<Buffer | undefined> {
    if (this.inlines(size)) return buffer(await uploads.read(id, state, size));
    await uploads.commit(id, state, size, digest);
    return undefined;
  }

  /**
   * Makes bytes the caller has verified, stored under another key of the same driver (a
   * registry:2 blob being adopted), this digest's blob: shared rather than copied where the
   * driver can. A blob already present wins (same bytes).
   */
  adopt(sourceKey: string, digest: Digest): Promise<void> {
    return this.driver.copy(sourceKey, layout.blob(digest));
  }

  /** Garbage collection only: the object in storage (a blob in its row goes with the row). */
  delete(digest: Digest): Promise<void> {
    return this.driver.delete(layout.blob(digest));
  }

  private async inlineContent(digest: Digest, size: number | undefined): Promise<Buffer | undefined> {
    if (!this.inline || (size !== undefined && size > INLINE_BLOB_MAX_BYTES)) return undefined;
    return this.inline.inlineBlob(digest);
  }
}

function slice(content: Buffer, range: ByteRange | undefined): Buffer {
  return range ? content.subarray(range.start, range.end + 1) : content;
}
