import type { Readable, Writable } from 'node:stream';
import type { ByteRange } from '../oci/ranges.js';

/**
 * Bytes by key. Keys come only from `layout.ts`. Implementations: filesystem now,
 * S3-compatible (`s3/`); `test/contract/storage-driver.test.ts` is the suite each must pass.
 */
export interface StoredObject {
  size: number;
  modifiedAt: Date;
}

export interface AppendOptions {
  /** Where the bytes go: must equal the object's current size (0 creates it). */
  offset: number;
  /** Sees every chunk before it is written (digesting, counting). */
  onChunk?: (chunk: Buffer) => void;
  /** Also make the bytes durable (as `sync` does) before resolving. */
  sync?: boolean;
  signal?: AbortSignal;
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

/** One key of a listing, with what a listing gives for free (no `stat` per key). */
export interface ListedObject {
  key: string;
  size: number;
  modifiedAt: Date;
}

/**
 * Bytes by key, as every backend can hold them: the shape `StorageDriver` is reduced to once
 * uploads have their own seam (`upload-storage.ts`). The S3 driver implements only this.
 */
export interface ObjectStorage {
  readonly description: string;
  stat(key: string): Promise<StoredObject | undefined>;
  /** Throws `ObjectNotFoundError` when the key does not exist. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * Like `read`, for serving: the driver picks the cheapest way to copy. Throws
   * `ObjectNotFoundError` before any byte is written anywhere.
   */
  open(key: string, range?: ByteRange): Promise<ObjectReader>;
  /** Visible whole or not at all, durable when the promise resolves. For small objects (manifests). */
  writeAtomic(key: string, data: Buffer): Promise<void>;
  /**
   * Makes `to` hold the bytes of `from`, which stays in place; durable when it resolves. Objects
   * are never modified once written, so a driver may share the bytes rather than write them
   * again (the filesystem hard-links, S3 copies server-side). An existing `to` is kept: keys are
   * content addresses, so it holds the same bytes. Throws `ObjectNotFoundError` when `from` does
   * not exist.
   */
  copy(from: string, to: string): Promise<void>;
  /** Idempotent. */
  delete(key: string): Promise<void>;
  /** Many deletes in as few requests as the backend allows (S3: 1000 keys per call). Idempotent. */
  deleteMany?(keys: string[]): Promise<void>;
  /** Objects under a prefix, in no particular order. */
  list(prefix: string): AsyncIterable<ListedObject>;
  /** A time-limited URL a client can GET the object (or a range of it) from directly; absent when the backend cannot. */
  presignGet?(key: string, expiresInSeconds: number): Promise<string>;
}

/** `ObjectStorage` plus the file-shaped upload methods, which leave when uploads move to `UploadStorage`. */
export interface StorageDriver extends ObjectStorage {
  /**
   * Appends a stream at `offset`; returns the new size. When it resolves the bytes outlive the
   * process (a `kill -9`), but only `sync` (or `options.sync`) makes them survive a power cut.
   */
  append(key: string, source: Readable, options: AppendOptions): Promise<number>;
  /** Makes an object's bytes durable (throws `ObjectNotFoundError` when it does not exist). */
  sync(key: string): Promise<void>;
  /** Cuts an append-target back to `size` bytes (rolls back a failed append). */
  truncate(key: string, size: number): Promise<void>;
  /** Atomic, durable rename; replaces `to` if it exists. */
  move(from: string, to: string): Promise<void>;
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
