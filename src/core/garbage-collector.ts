import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CollectionStatus, MetadataStore, RemovedLink, RemovedManifest, StoredBlob } from '../metadata/store.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import type { BlobStore } from '../storage/blob-store.js';
import { layout } from '../storage/layout.js';
import type { EventTimes } from './batched-times.js';
import { forEachConcurrently } from './concurrently.js';
import type { LockService } from './locks.js';
import { PhaseTimer, type PhaseTiming } from './phase-timer.js';

/**
 * Online garbage collection: reclaims space while pushes and pulls go on.
 *
 * Invariant — no acknowledged content is ever lost, and what nobody can still need is freed
 * at the next collection:
 *   - A blob's bytes are deleted only when its database row is gone, and the row is deleted
 *     only inside a transaction that re-checks that no repository links the blob and no
 *     manifest is stored under its digest. Small blobs keep their bytes in that row
 *     (storage/blob-store.ts), so they go in the same transaction, with no object to delete.
 *   - Every path that makes a blob reachable (upload commit, monolithic push, mount, manifest
 *     PUT, import) holds the digest's lock — blob links shared, beside each other; manifests alone —,
 *     makes sure the bytes are present (writing them when they are not), and records row +
 *     link (or manifest) before releasing it. The collector holds the same locks exclusively
 *     to re-check, forget the rows, then delete the bytes. So a writer either runs first (the
 *     re-check sees the new reference) or after (it finds no bytes and writes them). A refused
 *     writer takes back bytes nobody recorded only while holding the lock exclusively, so a
 *     writer beside it that records them has finished first.
 *   - A link no manifest in its repository references is removed, unless it was touched
 *     (uploaded, mounted, or checked with HEAD) after a manifest referencing it was last stored,
 *     and no longer ago than the grace period: that is a push in progress, which will name the
 *     blob in a manifest moments later. An image pushed and then deleted was last touched
 *     before its manifest was stored, so its layers go at the next collection.
 *   - A HEAD records its touch before it looks the link up. In one process touches are batched
 *     in memory: the collector flushes the batch and holds further flushes, unlinks, then
 *     restores every unlinked link touched in memory meanwhile — before any blob is considered.
 *     Where replicas share the database, each touch is written before the lookup (WrittenTimes):
 *     the unlink either sees it (the row changed under it) or ran first, and the lookup misses.
 *     A HEAD that answered 200 therefore keeps its blob; one that answered 404 leads to an upload.
 *   - A manifest PUT checks its references inside the transaction that inserts it, so it
 *     cannot reference a link or manifest the collector has just removed (it answers
 *     MANIFEST_BLOB_UNKNOWN and the client uploads again; nothing acknowledged is lost).
 *   - Untagged manifests (only with deleteUntagged) younger than the grace period are kept:
 *     an index's children arrive before the index.
 *   - One collector at a time (a lease in the database). Bytes with no row (a crash between
 *     writing bytes and recording them) are swept once older than the grace period, by the
 *     collections after an unclean stop (the sweep walks the whole blob tree).
 *
 * Phases: untagged manifests (optional) → stale links → unreferenced blobs (in batches: one
 * transaction and one lock set per batch) → orphaned bytes → empty repositories.
 */
export interface CollectionOptions {
  dryRun: boolean;
  deleteUntagged: boolean;
  /** How long a touched link (and an untagged manifest) is protected. */
  graceMs: number;
  onProgress?: (progress: CollectionProgress) => void;
}

/** When to walk the blob tree for bytes with no row (see storage/data-directory-lock.ts); absent: every run. */
export interface OrphanSweepPolicy {
  needed(): boolean;
  done(): void;
}

export type CollectionPhase = 'manifests' | 'links' | 'blobs' | 'orphans' | 'repositories' | 'done';

/** The steps a run's time is reported by: taking the lease and flushing touches, each phase, counting what stays. */
export type TimedPhase = 'start' | Exclude<CollectionPhase, 'done'> | 'preview' | 'status';

export interface CollectionProgress {
  phase: CollectionPhase;
  /** In the blobs phase: candidates checked so far, of `total`. */
  checked?: number;
  total?: number;
  /** What the run has removed so far (would remove, in a dry run), by kind; on `done`, the whole run. */
  removed: RemovedCounts;
  /** Bytes freed so far (would be freed, in a dry run). */
  bytesFreed: number;
}

export interface RemovedCounts {
  links: number;
  manifests: number;
  blobs: number;
  orphans: number;
  repositories: number;
}

/** Every item a run removed (or would remove), for details on request. */
export interface CollectionDetails {
  links: RemovedLink[];
  manifests: RemovedManifest[];
  blobs: StoredBlob[];
  orphans: StoredBlob[];
  repositories: string[];
}

export interface CollectionReport {
  dryRun: boolean;
  startedAt: number;
  durationMs: number;
  bytesFreed: number;
  removed: RemovedCounts;
  /** What stays after the run, and why it stays. */
  kept: CollectionStatus & {
    /** Links unlinked by this run and linked again because a push touched them meanwhile. */
    restoredLinks: number;
  };
  /** Wall and CPU time per step, for operators who want to know where a run's time went. */
  phases: PhaseTiming<TimedPhase>[];
  details: CollectionDetails;
}

/** A report without its item lists: what answers carry unless details are asked for. */
export type CollectionSummary = Omit<CollectionReport, 'details'>;

export function summarise(report: CollectionReport): CollectionSummary {
  const { details: _details, ...summary } = report;
  return summary;
}

export class CollectionInProgressError extends Error {
  constructor() {
    super('another garbage collection holds the lease');
    this.name = 'CollectionInProgressError';
  }
}

const LEASE = 'gc';
const LEASE_TTL_MS = 10 * 60_000;
/**
 * Blob rows forgotten per transaction: one statement and one durable commit per batch, so a
 * typical run makes one. Bounded because the batch's digest locks are held until its bytes are
 * deleted.
 */
const BLOB_BATCH = 4096;
/** Object deletions in flight at once (a pool, not groups: none waits for the slowest of a group). */
const DELETE_CONCURRENCY = 64;

export interface CollectionListener {
  finished(report: CollectionReport): void;
  failed(error: unknown): void;
}

export class GarbageCollector {
  /** The newest finished run's report, whose item lists the admin API pages through. */
  lastReport: CollectionReport | undefined;
  /** Told about every finished or failed run (metrics, audit trail). */
  readonly listeners: CollectionListener[] = [];

  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly locks: LockService,
    private readonly touches: EventTimes,
    private readonly holder: string,
    private readonly log?: Logger,
    private readonly now: () => number = Date.now,
    private readonly orphanSweep?: OrphanSweepPolicy,
  ) {}

  async collect(options: CollectionOptions): Promise<CollectionReport> {
    // Each run is its own holder, so two runs in one process exclude each other too.
    const holder = `${this.holder}/${randomUUID()}`;
    if (!(await this.metadata.acquireLease(LEASE, holder, LEASE_TTL_MS))) throw new CollectionInProgressError();
    const renew = setInterval(() => void this.metadata.acquireLease(LEASE, holder, LEASE_TTL_MS), LEASE_TTL_MS / 3);
    renew.unref();
    const timer = new PhaseTimer<TimedPhase>();
    const releaseTouches = await this.touches.flushAndHold();
    timer.lap('start');
    try {
      const report = options.dryRun ? await this.preview(options, timer) : await this.run(options, timer);
      this.lastReport = report;
      for (const listener of this.listeners) listener.finished(report);
      return report;
    } catch (error) {
      for (const listener of this.listeners) listener.failed(error);
      throw error;
    } finally {
      releaseTouches();
      clearInterval(renew);
      await this.metadata.releaseLease(LEASE, holder);
    }
  }

  private async preview(options: CollectionOptions, timer: PhaseTimer<TimedPhase>): Promise<CollectionReport> {
    const startedAt = this.now();
    const cutoff = startedAt - options.graceMs;
    const { links, manifests, blobs } = await this.metadata.previewCollection(cutoff, options.deleteUntagged);
    timer.lap('preview');
    const orphans = (this.orphanSweep?.needed() ?? true) ? (await this.orphans(cutoff, true)).removed : [];
    timer.lap('orphans');
    const details = { links, manifests, blobs, orphans, repositories: [] };
    const report = await this.report(true, startedAt, cutoff, details, 0, timer);
    options.onProgress?.({ phase: 'done', removed: report.removed, bytesFreed: report.bytesFreed });
    return report;
  }

  private async run(options: CollectionOptions, timer: PhaseTimer<TimedPhase>): Promise<CollectionReport> {
    const startedAt = this.now();
    const cutoff = startedAt - options.graceMs;
    let bytesFreed = 0;
    const counts: RemovedCounts = { links: 0, manifests: 0, blobs: 0, orphans: 0, repositories: 0 };
    const progress = (phase: CollectionPhase, of?: { checked: number; total: number }) =>
      options.onProgress?.({ phase, removed: { ...counts }, bytesFreed, ...of });
    const finished = (phase: Exclude<CollectionPhase, 'done'>) => {
      timer.lap(phase);
      progress(phase);
    };

    // Manifests first: the links their layers held become stale in the same run.
    const manifests = options.deleteUntagged ? await this.metadata.removeUntaggedManifests(cutoff) : [];
    counts.manifests = manifests.length;
    finished('manifests');
    const { links, restored } = await this.unlinkStale(cutoff);
    counts.links = links.length;
    finished('links');

    const candidates = await this.metadata.unreferencedBlobs();
    const blobs: StoredBlob[] = [];
    for (let start = 0; start < candidates.length; start += BLOB_BATCH) {
      const batch = candidates.slice(start, start + BLOB_BATCH);
      const removed = await this.locks.runAll(batch.map((blob) => blob.digest), async () => {
        const forgotten = new Map((await this.metadata.forgetBlobsIfUnreferenced(batch.map((blob) => blob.digest))).map((blob) => [blob.digest, blob.inline]));
        const gone = batch.filter((blob) => forgotten.has(blob.digest));
        // Bytes kept in a row went with it; only the others are objects to delete.
        const stored = gone.filter((blob) => !forgotten.get(blob.digest));
        await forEachConcurrently(stored, DELETE_CONCURRENCY, (blob) => this.blobs.delete(blob.digest));
        return gone;
      });
      blobs.push(...removed);
      bytesFreed += sum(removed);
      counts.blobs = blobs.length;
      progress('blobs', { checked: Math.min(start + BLOB_BATCH, candidates.length), total: candidates.length });
    }
    timer.lap('blobs');

    // Only after an unclean stop (absent a policy: always); done once nothing is left for later.
    const swept = (this.orphanSweep?.needed() ?? true) ? await this.orphans(cutoff, false) : { removed: [], young: 0 };
    if (swept.young === 0) this.orphanSweep?.done();
    const orphans = swept.removed;
    bytesFreed += sum(orphans);
    counts.orphans = orphans.length;
    finished('orphans');
    const repositories = await this.metadata.removeEmptyRepositories();
    counts.repositories = repositories.length;
    finished('repositories');

    const report = await this.report(false, startedAt, cutoff, { links, manifests, blobs, orphans, repositories }, restored, timer);
    this.log?.info({ removed: report.removed, bytesFreed: report.bytesFreed, kept: report.kept, durationMs: report.durationMs, phases: report.phases }, 'garbage collection finished');
    progress('done');
    return report;
  }

  /** Removes stale links, then links again those a push touched while they were being removed. */
  private async unlinkStale(cutoff: number): Promise<{ links: RemovedLink[]; restored: number }> {
    const unlinked = await this.metadata.removeStaleLinks(cutoff);
    const touched = unlinked.filter((link) => this.touches.recorded(link.repository, link.digest) !== undefined);
    if (touched.length === 0) return { links: unlinked, restored: 0 };
    const restored = await this.metadata.restoreLinks(touched, this.now());
    const kept = new Set(touched.map((link) => `${link.repository}@${link.digest}`));
    return { links: unlinked.filter((link) => !kept.has(`${link.repository}@${link.digest}`)), restored };
  }

  private async report(dryRun: boolean, startedAt: number, cutoff: number, details: CollectionDetails, restoredLinks: number, timer: PhaseTimer<TimedPhase>): Promise<CollectionReport> {
    const removed: RemovedCounts = {
      links: details.links.length,
      manifests: details.manifests.length,
      blobs: details.blobs.length,
      orphans: details.orphans.length,
      repositories: details.repositories.length,
    };
    const status = await this.metadata.collectionStatus(cutoff);
    timer.lap('status');
    return {
      dryRun,
      startedAt,
      durationMs: this.now() - startedAt,
      bytesFreed: sum(details.blobs) + sum(details.orphans),
      removed,
      kept: { ...status, restoredLinks },
      phases: timer.timings,
      details,
    };
  }

  /**
   * Bytes in storage with no database row, older than the cutoff; `young` counts those left
   * because they are not (a write may be about to record them), so the sweep is not done yet.
   */
  private async orphans(cutoff: number, dryRun: boolean): Promise<{ removed: StoredBlob[]; young: number }> {
    const removed: StoredBlob[] = [];
    let young = 0;
    for await (const { key } of this.blobs.driver.list(layout.blobsPrefix())) {
      const digest = digestFromKey(key);
      if (!digest || (await this.metadata.blobRecorded(digest))) continue;
      const outcome = await this.locks.run(digest, async () => {
        const info = await this.blobs.driver.stat(key);
        if (!info || (await this.metadata.blobRecorded(digest))) return undefined;
        if (info.modifiedAt.getTime() >= cutoff) return 'young' as const;
        if (!dryRun) await this.blobs.delete(digest);
        return { digest, size: info.size };
      });
      if (outcome === 'young') young += 1;
      else if (outcome) removed.push(outcome);
    }
    return { removed, young };
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
