import { randomUUID } from 'node:crypto';
import { Digester, digestAlgorithm, type Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import type { RepositoryName } from '../oci/names.js';
import type { MetadataStore } from '../metadata/store.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { StorageDriver } from '../storage/driver.js';
import { layout } from '../storage/layout.js';
import type { UploadStorage } from '../storage/upload-storage.js';

/**
 * Moving a registry's content to other storage (the embedded filesystem to S3): every stored
 * object streamed across and re-hashed on the way (a byte changed in transit fails the move),
 * then, once the metadata has been moved too, every tagged image checked on the target.
 */
export interface StoredObjectRow {
  digest: Digest;
  size: number;
}

export interface BlobCopyProgress {
  copied: number;
  skipped: number;
  bytes: number;
  total: number;
}

/** Objects copied at once: enough to keep an object store busy, few enough for two cores. */
const CONCURRENCY = 4;

export class ContentMismatchError extends Error {
  constructor(digest: Digest, detail: string) {
    super(`${digest}: ${detail}; nothing of it was committed on the target`);
    this.name = 'ContentMismatchError';
  }
}

/**
 * Copies each object from `source` to the target's storage through its upload seam (streamed,
 * hashed, committed at its content address). Objects the target already holds with the right
 * size are skipped, so an interrupted move can be run again.
 */
export async function copyBlobs(
  objects: StoredObjectRow[],
  source: StorageDriver,
  target: { driver: StorageDriver; uploads: UploadStorage },
  onProgress?: (progress: BlobCopyProgress) => void,
): Promise<BlobCopyProgress> {
  const progress: BlobCopyProgress = { copied: 0, skipped: 0, bytes: 0, total: objects.length };
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < objects.length; index = next++) {
      const { digest, size } = objects[index]!;
      if ((await target.driver.stat(layout.blob(digest)))?.size === size) {
        progress.skipped += 1;
      } else {
        await copyOne(digest, size, source, target.uploads);
        progress.copied += 1;
        progress.bytes += size;
      }
      onProgress?.(progress);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return progress;
}

async function copyOne(digest: Digest, size: number, source: StorageDriver, uploads: UploadStorage): Promise<void> {
  const id = randomUUID();
  const digester = new Digester(digestAlgorithm(digest));
  let state: string | undefined;
  try {
    const appended = await uploads.append(id, undefined, await source.read(layout.blob(digest)), { offset: 0, final: true, length: size, onChunk: (chunk) => digester.update(chunk) });
    state = appended.state;
    const actual = digester.digest();
    if (actual !== digest) throw new ContentMismatchError(digest, `the source's bytes digest to ${actual}`);
    await uploads.commit(id, state, size, digest);
  } catch (error) {
    await uploads.cancel(id, state).catch(() => undefined);
    throw error;
  }
}

export interface ImageCheck {
  repositories: number;
  tags: number;
  /** `repository:tag`: what is wrong with it on the target. */
  problems: string[];
}

/**
 * Every tag of every repository, on the target: its manifest's bytes digest to the tag's
 * digest, and each object the manifest names (config, layers, an index's manifests, followed
 * down) is stored with the size the manifest gives — unless the source never held it either.
 */
export async function checkImages(metadata: MetadataStore, blobs: BlobStore, source: StorageDriver): Promise<ImageCheck> {
  const check: ImageCheck = { repositories: 0, tags: 0, problems: [] };
  const verified = new Set<Digest>();
  for (const repository of await metadata.listTaggedRepositories()) {
    check.repositories += 1;
    for (const { tag, digest } of await metadata.listTagDetails(repository)) {
      check.tags += 1;
      const problem = await checkManifest(repository, digest, { metadata, blobs, source }, verified);
      if (problem) check.problems.push(`${repository}:${tag}: ${problem}`);
    }
  }
  return check;
}

interface CheckContext {
  metadata: MetadataStore;
  /** The target's blobs: those kept in their rows included. */
  blobs: BlobStore;
  /** Where the content came from: an object it never held (a proxy's layer not pulled yet) was not to be moved. */
  source: StorageDriver;
}

async function checkManifest(repository: RepositoryName, digest: Digest, context: CheckContext, verified: Set<Digest>): Promise<string | undefined> {
  const { metadata, blobs, source } = context;
  if (verified.has(digest)) return undefined;
  const record = await metadata.getManifest(repository, digest);
  if (!record) return `manifest ${digest} is not recorded`;
  const digester = new Digester(digestAlgorithm(digest));
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of await blobs.read(digest, undefined, record.size)) {
      digester.update(chunk as Buffer);
      chunks.push(chunk as Buffer);
    }
  } catch {
    return (await source.stat(layout.blob(digest))) ? `manifest ${digest} is not stored` : undefined;
  }
  if (digester.digest() !== digest) return `manifest ${digest} is stored with other bytes`;
  const parsed = parseManifest(Buffer.concat(chunks), record.mediaType);
  for (const blob of parsed.blobs) {
    const stored = await blobs.stat(blob.digest, blob.size);
    if (!stored && !(await source.stat(layout.blob(blob.digest)))) continue;
    if (stored?.size !== blob.size) return `${blob.digest} is ${stored ? `${stored.size} bytes, not ${blob.size}` : 'not stored'}`;
  }
  for (const child of parsed.manifests) {
    const problem = await checkManifest(repository, child.digest, context, verified);
    if (problem) return problem;
  }
  verified.add(digest);
  return undefined;
}
