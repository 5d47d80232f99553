import { buffer } from 'node:stream/consumers';
import { Digester, digestAlgorithm, digestOf, type Digest } from '../../oci/digest.js';
import { RegistryError } from '../../oci/errors.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../../oci/manifest.js';
import type { RepositoryName, Tag } from '../../oci/names.js';
import type { BlobIndex, ImportIndex, ManifestIndex, NewManifest } from '../../metadata/store.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Registry2Repository, Registry2Tree } from '../../storage/registry2-tree.js';
import type { LockService } from '../locks.js';
import { manifestFacts } from '../image-description.js';
import { manifestEntry } from '../manifest-entry.js';

/**
 * Adopts a registry:2 tree found in the storage root, so users switching from registry:2 keep
 * their volume and pull without pushing again. It imports exactly what registry:2 would serve
 * (link files present), repository by repository:
 *
 *   scan → for each repository: layer links → manifests (children before indexes), each with its tags → done
 *
 * Rules it keeps:
 *   - Bytes are verified before Berth serves them: a blob's registry:2 file is stream-hashed once
 *     per run (only when Berth does not already hold that digest) and then shared into Berth's
 *     blob tree (a hard link: no copy, the registry:2 tree stays intact). A blob or manifest
 *     whose bytes do not match its digest is reported and skipped, never imported.
 *   - Making a blob reachable follows the garbage-collection protocol (see
 *     `garbage-collector.ts`): under the digest's lock, bytes present first, then the row.
 *   - Records go through the same store calls as pushes (`linkBlob`, `putManifest`), so
 *     reference checks stay in one place. Quotas and read-only policies do not apply: the
 *     content already existed.
 *   - Berth's own state wins: a tag that already exists in Berth is never moved, so running
 *     beside live pushes, or again, changes nothing that is there. Every step skips what is
 *     present, which makes an interrupted run resumable by running it again.
 */
export const REGISTRY2_SOURCE = 'registry2';
/** Repositories imported at once. */
const REPOSITORY_CONCURRENCY = 4;

export interface ImportCounts {
  /** Repositories found in the registry:2 tree. */
  repositories: number;
  /** Recorded by this run (or, in a dry run, that would be). */
  manifests: number;
  tags: number;
  links: number;
  /** Blobs made present in Berth's blob tree, and their bytes. */
  blobs: number;
  bytes: number;
  /** Manifests, tags and links Berth already had, left as they were. */
  unchanged: number;
}

export interface ImportSkip {
  /** `repository@digest`, `repository:tag`, or a key of the registry:2 tree. */
  item: string;
  reason: string;
}

export interface ImportProgress {
  phase: 'scan' | 'repository' | 'done';
  /** Repositories done, of `total`. */
  done: number;
  total: number;
  repository?: RepositoryName;
  counts: ImportCounts;
  skipped: number;
}

export interface ImportReport extends ImportCounts {
  dryRun: boolean;
  skipped: ImportSkip[];
  durationMs: number;
}

export interface ImportOptions {
  /** Read and verify everything, write nothing. */
  dryRun: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: ImportProgress) => void;
}

export interface Registry2ImportDependencies {
  metadata: BlobIndex & ManifestIndex & ImportIndex;
  blobs: BlobStore;
  tree: Registry2Tree;
  /** Per-digest locks shared with garbage collection and pushes. */
  locks: LockService;
}

type BlobCheck = { size: number } | { reason: string };

interface ManifestCandidate {
  digest: Digest;
  bytes: Buffer;
  entry: NewManifest;
}

export class Registry2Import {
  constructor(private readonly deps: Registry2ImportDependencies) {}

  /** A registry:2 tree is there and no import of it has finished yet: what `berth serve` checks at start. */
  async pending(): Promise<boolean> {
    return (await this.deps.tree.present()) && (await this.deps.metadata.importFinishedAt(REGISTRY2_SOURCE)) === undefined;
  }

  async run(options: ImportOptions): Promise<ImportReport> {
    const started = Date.now();
    const run = new ImportRun(this.deps, options);
    const inventory = await this.deps.tree.scan();
    run.counts.repositories = inventory.repositories.length;
    run.skipped.push(...inventory.problems);
    run.progress('scan', 0, inventory.repositories.length);
    // Repositories in parallel: most of an import is waiting for fsyncs, which then overlap.
    // Shared blobs stay safe: making one present and linking it happen under its digest's lock.
    let next = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: Math.min(REPOSITORY_CONCURRENCY, inventory.repositories.length) }, async () => {
        while (next < inventory.repositories.length) {
          const repository = inventory.repositories[next++]!;
          options.signal?.throwIfAborted();
          await run.repository(repository);
          run.progress('repository', ++done, inventory.repositories.length, repository.name);
        }
      }),
    );
    const report: ImportReport = { dryRun: options.dryRun, ...run.counts, skipped: run.skipped, durationMs: Date.now() - started };
    if (!options.dryRun) {
      const { skipped, ...summary } = report;
      await this.deps.metadata.recordImportFinished(REGISTRY2_SOURCE, Date.now(), JSON.stringify({ ...summary, skipped: skipped.length }));
    }
    run.progress('done', inventory.repositories.length, inventory.repositories.length);
    return report;
  }
}

/** The state of one run: counts, skips, and what registry:2's blobs were found to hold. */
class ImportRun {
  readonly counts: ImportCounts = { repositories: 0, manifests: 0, tags: 0, links: 0, blobs: 0, bytes: 0, unchanged: 0 };
  readonly skipped: ImportSkip[] = [];
  /** registry:2 blob files hashed in this run (each at most once). */
  private readonly checked = new Map<Digest, BlobCheck>();
  /** Blobs this run made present (or, dry, would), so each is counted once. */
  private readonly madePresent = new Set<Digest>();

  constructor(
    private readonly deps: Registry2ImportDependencies,
    private readonly options: ImportOptions,
  ) {}

  progress(phase: ImportProgress['phase'], done: number, total: number, repository?: RepositoryName): void {
    this.options.onProgress?.({ phase, done, total, ...(repository ? { repository } : {}), counts: { ...this.counts }, skipped: this.skipped.length });
  }

  async repository(repository: Registry2Repository): Promise<void> {
    const linked = await this.layers(repository);
    await this.manifests(repository, linked);
  }

  /**
   * Links the repository's layers; returns the digests linked in Berth afterwards. Those not
   * linked yet are made present and linked under their digests' locks, in one transaction.
   */
  private async layers(repository: Registry2Repository): Promise<Set<Digest>> {
    const { metadata, locks } = this.deps;
    const linked = new Set<Digest>();
    const missing: Digest[] = [];
    for (const digest of repository.layers) {
      if ((await metadata.linkedBlobSize(repository.name, digest)) === undefined) missing.push(digest);
      else {
        this.counts.unchanged += 1;
        linked.add(digest);
      }
    }
    await locks.runAll(missing, async () => {
      const present: { digest: Digest; size: number; content?: Buffer }[] = [];
      for (const digest of missing) {
        this.options.signal?.throwIfAborted();
        const blob = await this.makePresent(digest);
        if (blob) present.push({ digest, ...blob });
      }
      if (!this.options.dryRun) await metadata.linkBlobs(repository.name, present);
      for (const { digest } of present) linked.add(digest);
      this.counts.links += present.length;
    });
    return linked;
  }

  /**
   * With the digest's lock held: makes sure Berth's blob tree holds the digest, sharing
   * registry:2's verified file when it does not. Returns the size, and the bytes of a blob
   * small enough to be recorded with them (as every push of it would be), or undefined after
   * reporting why the blob cannot be imported.
   */
  private async makePresent(digest: Digest): Promise<{ size: number; content?: Buffer } | undefined> {
    const present = await this.deps.blobs.stat(digest);
    if (present) return { size: present.size };
    const check = await this.check(digest);
    if ('reason' in check) return undefined;
    let content: Buffer | undefined;
    if (!this.madePresent.has(digest)) {
      if (!this.options.dryRun) {
        if (this.deps.blobs.inlines(check.size)) content = await buffer(await this.deps.tree.readBlob(digest));
        else await this.deps.blobs.adopt(this.deps.tree.blobKey(digest), digest);
      }
      this.madePresent.add(digest);
      this.counts.blobs += 1;
      this.counts.bytes += check.size;
    }
    return { size: check.size, content };
  }

  /** Hashes registry:2's file for the digest once per run; a bad one is reported once. */
  private async check(digest: Digest): Promise<BlobCheck> {
    let check = this.checked.get(digest);
    if (!check) {
      check = await this.hash(digest);
      this.checked.set(digest, check);
      if ('reason' in check) this.skipped.push({ item: `blob ${digest}`, reason: check.reason });
    }
    return check;
  }

  private async hash(digest: Digest): Promise<BlobCheck> {
    if (!(await this.deps.tree.statBlob(digest))) return { reason: 'registry:2 holds no bytes for it (blob data missing)' };
    const digester = new Digester(digestAlgorithm(digest));
    for await (const chunk of await this.deps.tree.readBlob(digest)) {
      // A large layer takes a while: shutdown should not wait for it.
      this.options.signal?.throwIfAborted();
      digester.update(chunk as Buffer);
    }
    const actual = digester.digest();
    if (actual !== digest) return { reason: `its bytes digest to ${actual}: the file is corrupted` };
    return { size: digester.size };
  }

  /** Imports the repository's manifests (an index after the manifests it lists), each with its tags. */
  private async manifests(repository: Registry2Repository, linked: Set<Digest>): Promise<void> {
    const tagsOf = new Map<Digest, Tag[]>();
    for (const [tag, digest] of repository.tags) tagsOf.set(digest, [...(tagsOf.get(digest) ?? []), tag]);
    const revisions = new Set(repository.revisions);
    for (const [tag, digest] of repository.tags) {
      if (!revisions.has(digest)) {
        this.skipped.push({ item: `${repository.name}:${tag}`, reason: `it points at ${digest}, which registry:2 deleted (no revision link)` });
      }
    }

    let pending: ManifestCandidate[] = [];
    for (const digest of repository.revisions) {
      this.options.signal?.throwIfAborted();
      const candidate = await this.readManifest(repository.name, digest);
      if ('reason' in candidate) this.skipManifest(repository.name, digest, candidate.reason, tagsOf.get(digest));
      else pending.push(candidate);
    }

    const imported = new Set<Digest>();
    for (let progressed = true; pending.length > 0 && progressed; ) {
      progressed = false;
      const waiting = new Set(pending.map((candidate) => candidate.digest));
      const next: ManifestCandidate[] = [];
      for (const candidate of pending) {
        if (candidate.entry.manifestReferences.some((child) => waiting.has(child) && child !== candidate.digest)) {
          next.push(candidate);
          continue;
        }
        progressed = true;
        this.options.signal?.throwIfAborted();
        if (await this.importManifest(candidate, linked, imported, tagsOf.get(candidate.digest) ?? [])) imported.add(candidate.digest);
        waiting.delete(candidate.digest);
      }
      pending = next;
    }
    for (const candidate of pending) {
      this.skipManifest(repository.name, candidate.digest, 'its manifest references form a cycle', tagsOf.get(candidate.digest));
    }
  }

  private async readManifest(repository: RepositoryName, digest: Digest): Promise<ManifestCandidate | { reason: string }> {
    const stat = await this.deps.tree.statBlob(digest);
    if (!stat) return { reason: 'registry:2 holds no bytes for it (blob data missing)' };
    if (stat.size > MAX_MANIFEST_BYTES) return { reason: `it is ${stat.size} bytes; manifests are limited to ${MAX_MANIFEST_BYTES}` };
    const bytes = await buffer(await this.deps.tree.readBlob(digest));
    const actual = digestOf(bytes, digestAlgorithm(digest));
    if (actual !== digest) return { reason: `its bytes digest to ${actual}: the file is corrupted` };
    try {
      const parsed = parseManifest(bytes, undefined);
      // What a push records too (search, the UI's platforms); configs come from registry:2's files, already verified.
      const facts = await manifestFacts(parsed, bytes, {
        openBlob: async (blob) => ((await this.deps.tree.statBlob(blob)) ? this.deps.tree.readBlob(blob) : undefined),
        childDescription: async (child) => (await this.deps.metadata.getManifest(repository, child))?.description,
      });
      return { digest, bytes, entry: manifestEntry(repository, digest, bytes.length, parsed, facts) };
    } catch (error) {
      if (error instanceof RegistryError) return { reason: error.message };
      throw error;
    }
  }

  /** Returns whether the manifest is in Berth afterwards (or, dry, would be). */
  private async importManifest(candidate: ManifestCandidate, linked: Set<Digest>, imported: Set<Digest>, tags: Tag[]): Promise<boolean> {
    const { metadata, locks, blobs } = this.deps;
    const { repository } = candidate.entry;
    const present = (await metadata.getManifest(repository, candidate.digest)) !== undefined;
    if (!present) {
      const missing = await this.missingReferences(candidate.entry, linked, imported);
      if (missing.length > 0) {
        this.skipManifest(repository, candidate.digest, `it references ${missing.join(', ')}, which the repository does not hold`, tags);
        return false;
      }
    }
    if (this.options.dryRun) {
      if (present) this.counts.unchanged += 1;
      else this.counts.manifests += 1;
      for (const tag of tags) await this.tag(candidate, tag, async () => ({}));
      return true;
    }
    // Bytes before rows, under the digest's lock (the garbage-collection protocol).
    return locks.run(candidate.digest, async () => {
      const content = await blobs.place(candidate.digest, candidate.bytes);
      if (present) {
        this.counts.unchanged += 1;
      } else {
        const result = await metadata.putManifest({ ...candidate.entry, content });
        const missing = [...result.missing.blobs, ...result.missing.manifests];
        if (missing.length > 0) {
          this.skipManifest(repository, candidate.digest, `it references ${missing.join(', ')}, which the repository does not hold`, tags);
          return false;
        }
        this.counts.manifests += 1;
      }
      for (const tag of tags) await this.tag(candidate, tag, () => metadata.putManifest({ ...candidate.entry, tag, keepExistingTag: true }));
      return true;
    });
  }

  /** A tag Berth already has is kept as it is, wherever it points. */
  private async tag(candidate: ManifestCandidate, tag: Tag, put: () => Promise<{ tagConflict?: Digest }>): Promise<void> {
    const { repository } = candidate.entry;
    const current = await this.deps.metadata.resolveTag(repository, tag);
    if (current?.digest === candidate.digest) {
      this.counts.unchanged += 1;
      return;
    }
    const conflict = current?.digest ?? (await put()).tagConflict;
    if (conflict !== undefined) {
      this.skipped.push({ item: `${repository}:${tag}`, reason: `Berth already has this tag, pointing at ${conflict}; kept` });
      return;
    }
    this.counts.tags += 1;
  }

  private async missingReferences(entry: NewManifest, linked: Set<Digest>, imported: Set<Digest>): Promise<Digest[]> {
    const missing: Digest[] = [];
    for (const blob of new Set(entry.blobReferences)) {
      if (!linked.has(blob) && (await this.deps.metadata.linkedBlobSize(entry.repository, blob)) === undefined) missing.push(blob);
    }
    for (const child of new Set(entry.manifestReferences)) {
      if (!imported.has(child) && !(await this.deps.metadata.getManifest(entry.repository, child))) missing.push(child);
    }
    return missing;
  }

  private skipManifest(repository: RepositoryName, digest: Digest, reason: string, tags: Tag[] | undefined): void {
    this.skipped.push({ item: `${repository}@${digest}`, reason });
    for (const tag of tags ?? []) this.skipped.push({ item: `${repository}:${tag}`, reason: `its manifest ${digest} was not imported` });
  }
}
