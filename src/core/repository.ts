import type { Readable, Writable } from 'node:stream';
import type { AcceptList } from '../oci/accept.js';
import type { Digest } from '../oci/digest.js';
import type { RepositoryName, Tag } from '../oci/names.js';
import type { ByteRange, RangeRequest } from '../oci/ranges.js';
import type { ManifestReference } from '../oci/routes.js';
import type { ManifestRecord, Page } from '../metadata/store.js';
import type { CommittedBlob, UploadProgress, WriteOptions } from './uploads.js';

/**
 * What `/v2/<name>/…` handlers talk to, whatever the repository's kind: hosted (content in this
 * registry), proxy (a pull-through cache of an upstream) and group (ordered members).
 */
export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** Bytes ready to be sent: from storage, or from a cache fill still in progress. */
export interface BlobBody {
  /** Writes the bytes into `destination` and ends it; rejects (leaving it unended) on failure. */
  pipeTo(destination: Writable, signal?: AbortSignal): Promise<void>;
}

export interface BlobContent extends BlobInfo {
  range?: ByteRange;
  body: BlobBody;
}

export interface ManifestContent {
  record: ManifestRecord;
  bytes: Buffer;
}

export interface StoredManifest {
  digest: Digest;
  subject?: Digest;
}

export type MountResult = { mounted: BlobInfo } | { upload: UploadProgress };

export interface RepositoryHandle {
  readonly name: RepositoryName;

  statBlob(digest: Digest): Promise<BlobInfo>;
  /** The blob when this registry already holds it for this repository, without asking anyone else. */
  localBlob(digest: Digest): Promise<BlobInfo | undefined>;
  /**
   * Resolves the range against the blob's size before the body starts: one satisfiable range
   * is served, an unsatisfiable one throws `RangeNotSatisfiableError` (416).
   */
  openBlob(digest: Digest, range: RangeRequest | undefined): Promise<BlobContent>;
  deleteBlob(digest: Digest): Promise<void>;

  startUpload(): Promise<UploadProgress>;
  /** Links a blob that `from` already holds locally; falls back to a fresh upload when it cannot. */
  mountBlob(digest: Digest, from: RepositoryHandle | undefined): Promise<MountResult>;
  uploadMonolithic(digest: Digest, body: Readable, options: WriteOptions): Promise<CommittedBlob>;
  uploadStatus(id: string): Promise<UploadProgress>;
  uploadChunk(id: string, body: Readable, options: WriteOptions): Promise<UploadProgress>;
  completeUpload(id: string, digest: Digest, body: Readable | undefined, options: WriteOptions): Promise<CommittedBlob>;
  cancelUpload(id: string): Promise<void>;

  /**
   * `accept` is the client's `Accept` list: by tag, a manifest in a type it does not accept is
   * MANIFEST_UNKNOWN (a proxy forwards the list upstream); by digest it does not matter.
   */
  statManifest(reference: ManifestReference, accept: AcceptList): Promise<ManifestRecord>;
  getManifest(reference: ManifestReference, accept: AcceptList): Promise<ManifestContent>;
  putManifest(reference: ManifestReference, body: Buffer, contentType: string | undefined): Promise<StoredManifest>;
  deleteManifest(reference: ManifestReference): Promise<void>;

  listTags(limit: number, last?: string): Promise<Page<Tag>>;
  referrers(subject: Digest, artifactType?: string): Promise<ManifestRecord[]>;
}
