import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../oci/digest.js';

/**
 * Where an unfinished blob's bytes wait until they are committed to their content address.
 * Shaped for what both backends can do honestly: a file can be appended to and cut back; an
 * S3 multipart upload takes parts of at least 5 MiB that can never be cut, so it keeps a short
 * tail beside them. Whatever a backend needs to resume on another replica is its `state`,
 * persisted with the session row (opaque outside the backend); every call gets the state the
 * previous successful call returned.
 */
export type UploadStorageState = string | undefined;

export interface UploadAppendOptions {
  /** Bytes already acknowledged; the chunk goes after them. */
  offset: number;
  /** Sees every chunk of `source` before it is stored (digesting). */
  onChunk?: (chunk: Buffer) => void;
  signal?: AbortSignal;
  /** The upload ends with this chunk (a commit follows): a backend may make the bytes durable now. */
  final?: boolean;
  /**
   * The bytes the client announced: a source that ends with another count fails the append
   * with `ChunkLengthError`, and none of it is kept (a client that went away mid-chunk).
   */
  length?: number;
}

export interface AppendedChunk {
  /** Bytes held after the chunk. */
  size: number;
  /** To persist with the session and pass to the next call. */
  state: UploadStorageState;
}

export interface UploadStorage {
  /**
   * Stores `source` after the first `offset` bytes. When it resolves, the bytes outlive a
   * `kill -9` of the process. When it fails, nothing past `offset` counts: a retry with the
   * same offset and state must work (bytes written past it are cut or ignored).
   */
  append(id: string, state: UploadStorageState, source: Readable, options: UploadAppendOptions): Promise<AppendedChunk>;
  /**
   * Makes the first `size` bytes the blob `digest`, durably and atomically, and drops the
   * session's bytes. The caller has verified the digest and holds its lock. A blob already
   * stored wins (same bytes).
   */
  commit(id: string, state: UploadStorageState, size: number, digest: Digest): Promise<void>;
  /** The first `size` bytes, for re-hashing when no digest state was saved. */
  read(id: string, state: UploadStorageState, size: number): Promise<Readable>;
  /** Drops the session's bytes. Idempotent; a missing session is not an error. */
  cancel(id: string, state: UploadStorageState): Promise<void>;
  /** Sessions holding bytes and when they were last written, for the purge of abandoned uploads. */
  list(): AsyncIterable<{ id: string; modifiedAt: Date }>;
}

export class ChunkLengthError extends Error {
  constructor(
    readonly announced: number,
    readonly received: number,
  ) {
    super(`the chunk announced ${announced} bytes but ${received} arrived`);
    this.name = 'ChunkLengthError';
  }
}

/** The session's stored bytes are fewer than were acknowledged (a power cut, or removed by hand). */
export class UploadDataLostError extends Error {
  constructor(
    readonly id: string,
    readonly expected: number,
    readonly held: number,
  ) {
    super(`upload ${id} holds ${held} bytes, not the ${expected} acknowledged`);
    this.name = 'UploadDataLostError';
  }
}

/**
 * Upload storage whose bytes can be read while they are being appended, so that readers can
 * follow a proxy's cache fill as it arrives (a local file: `FilesystemUploadStorage`).
 */
export interface FollowableUploadStorage extends UploadStorage {
  /**
   * Readies what the session's first append needs (a file's directory), so that the work
   * overlaps waiting for the source (a proxy's upstream answering) instead of following it.
   * Optional to await: the append does it anyway when it was not done.
   */
  prepare(id: string): Promise<void>;
  /**
   * Writes the bytes [start, end] the upload holds so far into `destination` (leaving it open);
   * the count written, or undefined when the bytes are no longer spooled (committed or cancelled).
   */
  sendRange(id: string, start: number, end: number, destination: Writable, signal?: AbortSignal): Promise<number | undefined>;
}
