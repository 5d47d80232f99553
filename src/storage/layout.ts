import { digestAlgorithm, digestHex, type Digest } from '../oci/digest.js';

/**
 * Every storage key Berth uses is built here, and only from parsed digests and upload ids
 * (never from a raw name), so no request can address anything outside the storage root.
 *
 *   <root>/
 *   ├── berth.sqlite                       metadata (default location; see database.sqlite.path)
 *   └── v1/                                layout version: a future layout can live beside it
 *       ├── blobs/<alg>/<hex[0:2]>/<hex>   content-addressed bytes, shared by every repository
 *       │                                   (layers, configs and manifests alike), except blobs of
 *       │                                   up to 32 KiB, whose bytes are in their database row
 *       │                                   (storage/blob-store.ts)
 *       ├── uploads/<id[0:2]>/<upload-id>  data of resumable upload sessions, spread over 256 directories (one
 *       │   │                              directory's lock serialised parallel pushes). Filesystem: one file;
 *       │   ├── data                       S3: the multipart upload's target,
 *       │   └── tail-<n>                   and the bytes after its last whole part
 *       └── health/probe                   written and removed by the storage health check
 *
 * What exists (repositories, tags, links) is in the database, not in this tree.
 */
const VERSION = 'v1';
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const layout = {
  blob(digest: Digest): string {
    const hex = digestHex(digest);
    return `${VERSION}/blobs/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}`;
  },
  blobsPrefix(): string {
    return `${VERSION}/blobs/`;
  },
  upload(uploadId: string): string {
    if (!UPLOAD_ID.test(uploadId)) throw new Error(`not an upload id: ${uploadId}`);
    return `${VERSION}/uploads/${uploadId.slice(0, 2)}/${uploadId}`;
  },
  isUploadId(candidate: string): boolean {
    return UPLOAD_ID.test(candidate);
  },
  /** An object of one upload session (S3 keeps several: see the tree above). */
  uploadObject(uploadId: string, name: 'data' | `tail-${number}`): string {
    return `${layout.upload(uploadId)}/${name}`;
  },
  /** The directory of one session's objects. */
  uploadObjectsPrefix(uploadId: string): string {
    return `${layout.upload(uploadId)}/`;
  },
  /** The session an object below `uploadsPrefix()` belongs to, if its key is one layout made. */
  uploadIdOf(key: string): string | undefined {
    if (!key.startsWith(layout.uploadsPrefix())) return undefined;
    const [shard, id = ''] = key.slice(layout.uploadsPrefix().length).split('/');
    return UPLOAD_ID.test(id) && id.startsWith(shard ?? '') ? id : undefined;
  },
  uploadsPrefix(): string {
    return `${VERSION}/uploads/`;
  },
  healthProbe(): string {
    return `${VERSION}/health/probe`;
  },
} as const;
