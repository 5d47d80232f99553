import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { MetadataStore, RemovedLink, RemovedManifest, StoredBlob } from '../metadata/store.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import type { BlobStore } from '../storage/blob-store.js';
import { layout } from '../storage/layout.js';
import type { KeyedMutex } from './keyed-mutex.js';

/**
 * Online garbage collection: reclaims space while pushes and pulls go on.
 *
 * Invariant — no acknowledged content is ever lost:
 *   - A blob's bytes are deleted only when its database row is gone, and the row is deleted
 *     only inside a transaction that re-checks that no repository links the blob and no
 *     manifest is stored under its digest.
 *   - Every path that makes a blob reachable (upload commit, monolithic push, mount, manifest
 *     PUT) takes the digest's lock, makes sure the bytes are present (writing them when they
 *     are not), and records row + link (or manifest) before releasing it. GC takes the same
 *     lock to re-check, forget the row, then delete the bytes. So a writer either runs
 *     first (GC's re-check sees the new reference) or after (it finds no bytes and writes them).
 *   - Links newer than the grace period are kept even when no manifest references them yet:
 *     clients upload layers before the manifest that names them. Untagged manifests newer
 *     than the grace period are kept for the same reason (an index's children arrive first).
 *   - A manifest PUT checks its references inside the transaction that inserts it, so it
 *     cannot reference a link or manifest that GC has just removed.
 *   - One collector at a time (a lease in the database). Bytes with no row (a crash between
 *     writing bytes and recording them) are swept once older than the grace period.
 *
 * Phases: untagged manifests (optional) → stale links → unreferenced blobs → orphaned bytes
 * → empty repositories.
 */
export interface CollectionOptions {
  dryRun: boolean;
  deleteUntagged: boolean;
  /** Links and untagged manifests younger than this are kept. */
  graceMs: number;
  onProgress?: (progress: CollectionProgress) => void;
}

export interface CollectionProgress {
  phase: 'manifests' | 'links' | 'blobs' | 'orphans' | 'repositories' | 'done';
  /** In the blobs phase: candidates checked so far, of `total`. */
  checked?: number;
  total?: number;
  /** What the run has removed so far (would remove, in a dry run), by kind; on `done`, the whole run. */
  removed: RemovedCounts;
  bytesFreed: number;
}

export interface RemovedCounts {
  links: number;
  manifests: number;
  blobs: number;
  orphans: number;
  repositories: number;
}

export interface CollectionReport {
  dryRun: boolean;
  links: RemovedLink[];
  manifests: RemovedManifest[];
  blobs: StoredBlob[];
  orphans: StoredBlob[];
  repositories: string[];
  bytesFreed: number;
  durationMs: number;
}

export class CollectionInProgressError extends Error {
  constructor() {
    super('another garbage collection holds the lease');
    this.name = 'CollectionInProgressError';
  }
}

const LEASE = 'gc';
const LEASE_TTL_MS = 10 * 60_000;

export class GarbageCollector {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly locks: KeyedMutex,
    private readonly holder: string,
    private readonly log?: Logger,
  ) {}

  async collect(options: CollectionOptions): Promise<CollectionReport> {
    // Each run is its own holder, so two runs in one process exclude each other too.
    const holder = `${this.holder}/${randomUUID()}`;
    if (!(await this.metadata.acquireLease(LEASE, holder, LEASE_TTL_MS))) throw new CollectionInProgressError();
    const renew = setInterval(() => void this.metadata.acquireLease(LEASE, holder, LEASE_TTL_MS), LEASE_TTL_MS / 3);
    renew.unref();
    try {
      return options.dryRun ? await this.preview(options) : await this.run(options);
    } finally {
      clearInterval(renew);
      await this.metadata.releaseLease(LEASE, holder);
    }
  }

  private async preview(options: CollectionOptions): Promise<CollectionReport> {
    const started = Date.now();
    const cutoff = started - options.graceMs;
    const { links, manifests, blobs } = await this.metadata.previewCollection(cutoff, options.deleteUntagged);
    const orphans = await this.orphans(cutoff, true);
    const bytesFreed = sum(blobs) + sum(orphans);
    const removed = { links: links.length, manifests: manifests.length, blobs: blobs.length, orphans: orphans.length, repositories: 0 };
    options.onProgress?.({ phase: 'done', removed, bytesFreed });
    return { dryRun: true, links, manifests, blobs, orphans, repositories: [], bytesFreed, durationMs: Date.now() - started };
  }

  private async run(options: CollectionOptions): Promise<CollectionReport> {
    const started = Date.now();
    const cutoff = started - options.graceMs;
    const counts: RemovedCounts = { links: 0, manifests: 0, blobs: 0, orphans: 0, repositories: 0 };
    const progress = (update: Omit<CollectionProgress, 'removed'>) => options.onProgress?.({ ...update, removed: { ...counts } });

    // Manifests first: the links their layers held become stale in the same run.
    const manifests = options.deleteUntagged ? await this.metadata.removeUntaggedManifests(cutoff) : [];
    counts.manifests = manifests.length;
    progress({ phase: 'manifests', bytesFreed: 0 });
    const links = await this.metadata.removeStaleLinks(cutoff);
    counts.links = links.length;
    progress({ phase: 'links', bytesFreed: 0 });

    const candidates = await this.metadata.unreferencedBlobs();
    const blobs: StoredBlob[] = [];
    let bytesFreed = 0;
    for (const [index, candidate] of candidates.entries()) {
      const removed = await this.locks.run(candidate.digest, async () => {
        if (!(await this.metadata.forgetBlobIfUnreferenced(candidate.digest))) return false;
        await this.blobs.delete(candidate.digest);
        return true;
      });
      if (removed) {
        blobs.push(candidate);
        bytesFreed += candidate.size;
        counts.blobs = blobs.length;
      }
      progress({ phase: 'blobs', checked: index + 1, total: candidates.length, bytesFreed });
    }

    const orphans = await this.orphans(cutoff, false);
    bytesFreed += sum(orphans);
    counts.orphans = orphans.length;
    progress({ phase: 'orphans', bytesFreed });
    const repositories = await this.metadata.removeEmptyRepositories();
    counts.repositories = repositories.length;
    progress({ phase: 'repositories', bytesFreed });
    const report = { dryRun: false, links, manifests, blobs, orphans, repositories, bytesFreed, durationMs: Date.now() - started };
    this.log?.info(
      { links: links.length, manifests: manifests.length, blobs: blobs.length, orphans: orphans.length, repositories: repositories.length, bytesFreed, durationMs: report.durationMs },
      'garbage collection finished',
    );
    progress({ phase: 'done', bytesFreed });
    return report;
  }

  /** Bytes in storage with no database row, older than the cutoff. */
  private async orphans(cutoff: number, dryRun: boolean): Promise<StoredBlob[]> {
    const found: StoredBlob[] = [];
    for await (const key of this.blobs.driver.list(layout.blobsPrefix())) {
      const digest = digestFromKey(key);
      if (!digest || (await this.metadata.blobRecorded(digest))) continue;
      const removed = await this.locks.run(digest, async () => {
        const info = await this.blobs.driver.stat(key);
        if (!info || info.modifiedAt.getTime() >= cutoff || (await this.metadata.blobRecorded(digest))) return undefined;
        if (!dryRun) await this.blobs.delete(digest);
        return { digest, size: info.size };
      });
      if (removed) found.push(removed);
    }
    return found;
  }
}

function digestFromKey(key: string): Digest | undefined {
  const parts = key.split('/');
  const hex = parts.at(-1);
  const algorithm = parts.at(-3);
  try {
    const digest = parseDigest(`${algorithm}:${hex}`);
    return layout.blob(digest) === key ? digest : undefined;
  } catch {
    return undefined;
  }
}

function sum(blobs: StoredBlob[]): number {
  return blobs.reduce((total, blob) => total + blob.size, 0);
}
