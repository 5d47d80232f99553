import type { Readable, Writable } from 'node:stream';
import type { ByteRange } from '../oci/ranges.js';

/**
 * Immutable objects by key. Keys come only from `layout.ts`. Implementations: filesystem and
 * S3-compatible; `test/contract/storage-driver.test.ts` is the suite each must pass. Unfinished
 * uploads have their own seam (`upload-storage.ts`): a file can be appended to, an object cannot.
 */
export interface StoredObject {
  size: number;
  modifiedAt: Date;
}

/** An opened object (so a missing one fails before a response starts), ready to be sent. */
export interface ObjectReader {
  /**
   * Writes the bytes into `destination` and ends it; closes the object either way. Drivers may
   * reuse their buffers once a chunk's write callback has fired, so the destination must not
   * hold on to chunks after that (sockets and HTTP responses do not).
   */
  pipeTo(destination: Writable, signal?: AbortSignal): Promise<void>;
}

export interface StorageDriver {
  readonly description: string;
  stat(key: string): Promise<StoredObject | undefined>;
  /** Throws `ObjectNotFoundError` when the key does not exist. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /** Like `read`, for serving: the driver picks the cheapest way to copy (throws `ObjectNotFoundError`). */
  open(key: string, range?: ByteRange): Promise<ObjectReader>;
  /** Visible whole or not at all, durable when the promise resolves. */
  writeAtomic(key: string, data: Buffer): Promise<void>;
  /**
   * Makes `to` hold the bytes of `from`, which stays in place; durable when it resolves. Objects
   * are never modified once written, so a driver may share the bytes rather than write them
   * again (the filesystem hard-links). An existing `to` is kept: keys are content addresses, so
   * it holds the same bytes. Throws `ObjectNotFoundError` when `from` does not exist.
   */
  copy(from: string, to: string): Promise<void>;
  /** Idempotent. */
  delete(key: string): Promise<void>;
  /** Deletes several objects (garbage collection); idempotent. Backends with a batch call use it. */
  deleteMany?(keys: string[]): Promise<void>;
  /** Objects under a prefix, in no particular order, with what a listing tells of each. */
  list(prefix: string): AsyncIterable<ListedObject>;
  /**
   * A time-limited URL from which a client can GET the object (and ranges of it) directly, so the
   * bytes do not pass through Berth. Absent when the backend cannot.
   */
  presignGet?(key: string, expiresInSeconds: number): Promise<string>;
}

export interface ListedObject extends StoredObject {
  key: string;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`no object at ${key}`);
    this.name = 'ObjectNotFoundError';
  }
}

/**
 * Refuses a key that could leave the storage root (absolute, `..`, `.` or empty segments).
 * Keys come from `layout.ts`; this is the drivers' second line of defence.
 */
export function assertKeyInsideRoot(key: string): void {
  if (key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '.' || part === '')) {
    throw new Error(`refusing storage key outside the root: ${key}`);
  }
}
