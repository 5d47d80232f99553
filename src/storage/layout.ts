import { digestAlgorithm, digestHex, type Digest } from '../oci/digest.js';

/**
 * Every storage key Berth uses is built here, and only from parsed digests and upload ids
 * (never from a raw name), so no request can address anything outside the storage root.
 *
 *   <root>/
 *   ├── berth.sqlite                       metadata (default location; see database.sqlite.path)
 *   └── v1/                                layout version: a future layout can live beside it
 *       ├── blobs/<alg>/<hex[0:2]>/<hex>   content-addressed bytes, shared by every repository
 *       │                                   (layers, configs and manifests alike)
 *       ├── uploads/<id[0:2]>/<upload-id>  data of resumable upload sessions (spread over 256
 *       │                                   directories: one directory's lock serialised parallel pushes)
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
  uploadsPrefix(): string {
    return `${VERSION}/uploads/`;
  },
  healthProbe(): string {
    return `${VERSION}/health/probe`;
  },
} as const;
