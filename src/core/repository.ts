import type { Readable } from 'node:stream';
import type { AcceptList } from '../oci/accept.js';
import type { Digest } from '../oci/digest.js';
import type { RepositoryName, Tag } from '../oci/names.js';
import type { ByteRange } from '../oci/ranges.js';
import type { ManifestReference } from '../oci/routes.js';
import type { ManifestRecord, Page } from '../metadata/store.js';
import type { ObjectReader } from '../storage/driver.js';
import type { CommittedBlob, UploadProgress, WriteOptions } from './uploads.js';

/**
 * What `/v2/<name>/…` handlers talk to. Hosted repositories implement it today; proxy
 * (pull-through cache) and group repositories will implement the same interface.
 */
export interface BlobInfo {
  digest: Digest;
  size: number;
}

export interface BlobContent extends BlobInfo {
  range?: ByteRange;
  body: ObjectReader;
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
  /**
   * Resolves the `Range` header against the blob's size before opening: one satisfiable range
   * is served, an unsatisfiable one throws `RangeNotSatisfiableError` (416), anything else is
   * ignored and the whole blob served (see `oci/ranges.ts`).
   */
  openBlob(digest: Digest, rangeHeader?: string): Promise<BlobContent>;
  deleteBlob(digest: Digest): Promise<void>;

  startUpload(): Promise<UploadProgress>;
  /** Links a blob that `from` holds; falls back to a fresh upload when it cannot. */
  mountBlob(digest: Digest, from: RepositoryName | undefined): Promise<MountResult>;
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
