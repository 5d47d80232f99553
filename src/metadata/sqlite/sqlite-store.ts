import Database from 'better-sqlite3';
import type { Digest } from '../../oci/digest.js';
import { createPrivately } from './private-file.js';
import type { RepositoryName, Tag } from '../../oci/names.js';
import type {
  AuditQuery,
  AuditRow,
  ChangeJournal,
  OutboxRow,
  StoredAuditRow,
  StoredOutboxEvent,
  WebhookEndpointState,
  CollectionPreview,
  CollectionStatus,
  ManifestPutResult,
  ManifestRecord,
  QuotaExceeded,
  QuotaLimit,
  RepositoryUsage,
  TagDetail,
  MetadataStore,
  MissingReferences,
  NewManifest,
  Page,
  RemovedLink,
  RemovedManifest,
  RepositoryMatch,
  RepositorySummary,
  TagSummary,
  StoredBlob,
  UploadProgress,
  UploadSession,
} from '../store.js';
import { MIGRATIONS } from './migrations.js';

interface ManifestRow {
  digest: string;
  media_type: string;
  size: number;
  artifact_type: string | null;
  annotations: string | null;
  subject: string | null;
  description: string | null;
  platforms: string | null;
  created_at: number;
}

interface UploadRow {
  id: string;
  repository_name: string;
  byte_offset: number;
  created_at: number;
  updated_at: number;
  hash_state: Buffer | null;
  storage_state: string | null;
}

const MANIFEST_COLUMNS = 'm.digest, m.media_type, m.size, m.artifact_type, m.annotations, m.subject, m.description, m.platforms, m.created_at';

/**
 * The embedded metadata store. WAL journal with `synchronous=FULL`: a transaction that has
 * returned survives a process kill and a power cut, which is what lets the registry
 * acknowledge a push. Bookkeeping that a power cut may lose without losing acknowledged
 * content (upload sessions and offsets, pull times, heartbeats) commits with
 * `synchronous=NORMAL` instead: no fsync of its own, made durable by the next FULL commit or
 * checkpoint. Statements are prepared once; better-sqlite3 runs them synchronously, so each
 * method is one short transaction with no await inside (and the synchronous level cannot leak
 * into another request's statement).
 */
export class SqliteMetadataStore implements MetadataStore {
  readonly description: string;
  private readonly db: Database.Database;
  private readonly statements;

  /** `clock` stamps pushes, links, leases and heartbeats; tests pass their own to order pushes. */
  constructor(
    path: string,
    private readonly clock: () => number = Date.now,
  ) {
    if (path !== ':memory:') createPrivately(path);
    this.description = `sqlite at ${path}`;
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    this.statements = prepare(this.db);
    this.relaxSync = this.db.prepare('PRAGMA synchronous = NORMAL');
    this.restoreSync = this.db.prepare('PRAGMA synchronous = FULL');
  }

  private readonly relaxSync: Database.Statement;
  private readonly restoreSync: Database.Statement;

  /** Runs bookkeeping that may be lost in a power cut without an fsync of its own. */
  private relaxed<T>(write: () => T): T {
    this.relaxSync.run();
    try {
      return write();
    } finally {
      this.restoreSync.run();
    }
  }

  async appendOutbox(rows: OutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    this.db.transaction(() => this.writeJournal({ outbox: rows, audit: [] }))();
  }

  async registerEndpoints(names: string[]): Promise<void> {
    this.db.transaction(() => {
      const newest = this.statements.newestOutboxSeq.get() as number;
      for (const name of names) this.statements.registerEndpoint.run(name, newest);
    })();
  }

  async pendingEvents(endpoint: string, limit: number): Promise<StoredOutboxEvent[]> {
    const rows = this.statements.pendingEvents.all(endpoint, limit) as { seq: number; repository: string; action: string; media_type: string; created_at: number; payload: string }[];
    return rows.map((row) => ({ seq: row.seq, repository: row.repository, action: row.action, mediaType: row.media_type, createdAt: row.created_at, payload: row.payload }));
  }

  async recordDelivery(endpoint: string, throughSeq: number, at: number, succeeded: boolean): Promise<void> {
    this.statements.recordDelivery.run(throughSeq, succeeded ? at : null, endpoint);
  }

  async recordFailure(endpoint: string, error: string, at: number, nextAttemptAt: number): Promise<void> {
    this.statements.recordFailure.run(error, at, nextAttemptAt, endpoint);
  }

  async endpointStates(names: string[]): Promise<WebhookEndpointState[]> {
    return names.flatMap((name) => {
      const row = this.statements.endpointState.get(name) as
        | { name: string; delivered_seq: number; pending: number; failures: number; next_attempt_at: number; last_error: string | null; last_error_at: number | null; last_success_at: number | null }
        | undefined;
      if (!row) return [];
      const state: WebhookEndpointState = { name: row.name, deliveredSeq: row.delivered_seq, pending: row.pending, failures: row.failures, nextAttemptAt: row.next_attempt_at };
      if (row.last_error !== null) state.lastError = row.last_error;
      if (row.last_error_at !== null) state.lastErrorAt = row.last_error_at;
      if (row.last_success_at !== null) state.lastSuccessAt = row.last_success_at;
      return [state];
    });
  }

  async pruneOutbox(endpoints: string[]): Promise<number> {
    const delivered = endpoints.map((name) => this.statements.deliveredSeq.get(name) as number | undefined);
    // An endpoint with no state yet has delivered nothing: keep everything for it.
    if (delivered.some((seq) => seq === undefined)) return 0;
    const through = endpoints.length === 0 ? (this.statements.newestOutboxSeq.get() as number) : Math.min(...(delivered as number[]));
    return this.relaxed(() => this.statements.pruneOutbox.run(through).changes);
  }

  async appendAudit(rows: AuditRow[]): Promise<void> {
    if (rows.length === 0) return;
    this.db.transaction(() => {
      for (const row of rows) this.insertAuditRow(row);
    })();
  }

  async queryAudit(query: AuditQuery): Promise<StoredAuditRow[]> {
    const conditions = ['id > ?'];
    const values: (string | number)[] = [query.after ?? 0];
    if (query.actor !== undefined) (conditions.push('actor = ?'), values.push(query.actor));
    if (query.repository !== undefined) (conditions.push('repository = ?'), values.push(query.repository));
    if (query.action !== undefined) (conditions.push('action = ?'), values.push(query.action));
    if (query.since !== undefined) (conditions.push('at >= ?'), values.push(query.since));
    if (query.until !== undefined) (conditions.push('at < ?'), values.push(query.until));
    const rows = this.db
      .prepare(`SELECT id, at, actor, action, repository, target, address, detail FROM audit_events WHERE ${conditions.join(' AND ')} ORDER BY id LIMIT ?`)
      .all(...values, query.limit) as { id: number; at: number; actor: string; action: string; repository: string | null; target: string | null; address: string | null; detail: string | null }[];
    return rows.map((row) => {
      const entry: StoredAuditRow = { id: row.id, at: row.at, actor: row.actor, action: row.action };
      if (row.repository !== null) entry.repository = row.repository;
      if (row.target !== null) entry.target = row.target;
      if (row.address !== null) entry.address = row.address;
      if (row.detail !== null) entry.detail = row.detail;
      return entry;
    });
  }

  async pruneAudit(before: number): Promise<number> {
    return this.statements.pruneAudit.run(before).changes;
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    this.db.close();
  }

  async listRepositories(limit: number, last?: string): Promise<Page<RepositoryName>> {
    const rows = this.statements.listRepositories.all(last ?? '', limit + 1) as { name: string }[];
    return page(rows.map((row) => row.name as RepositoryName), limit);
  }

  async repositoryExists(repository: RepositoryName): Promise<boolean> {
    return this.statements.repositoryListed.get(repository) !== undefined;
  }

  async deleteRepository(repository: RepositoryName, journal?: ChangeJournal): Promise<{ deleted: boolean; uploads: string[] }> {
    return this.db.transaction(() => {
      const listed = this.statements.repositoryListed.get(repository) !== undefined;
      this.statements.deleteRepository.run(repository);
      const uploads = this.statements.deleteRepositoryUploads.all(repository) as string[];
      if (listed || uploads.length > 0) this.writeJournal(journal);
      return { deleted: listed, uploads };
    })();
  }

  async linkedBlobSize(repository: RepositoryName, digest: Digest): Promise<number | undefined> {
    const row = this.statements.linkedBlobSize.get(repository, digest) as { size: number } | undefined;
    return row?.size;
  }

  async linkBlob(repository: RepositoryName, digest: Digest, size: number, quota?: QuotaLimit, journal?: ChangeJournal): Promise<QuotaExceeded | undefined> {
    return this.db.transaction(() => {
      const exceeded = this.linkBlobNow(repository, digest, size, this.clock(), quota);
      if (!exceeded) this.writeJournal(journal);
      return exceeded;
    })();
  }

  /** The change's journal rows, inside the caller's transaction. */
  private writeJournal(journal: ChangeJournal | undefined): void {
    if (!journal) return;
    for (const row of journal.outbox) this.statements.insertOutbox.run(row.repository, row.action, row.mediaType, row.createdAt, row.payload);
    for (const row of journal.audit) this.insertAuditRow(row);
  }

  private insertAuditRow(row: AuditRow): void {
    this.statements.insertAudit.run(row.at, row.actor, row.action, row.repository ?? null, row.target ?? null, row.address ?? null, row.detail ?? null);
  }

  async linkBlobs(repository: RepositoryName, blobs: { digest: Digest; size: number }[]): Promise<void> {
    if (blobs.length === 0) return;
    this.db.transaction(() => {
      const now = this.clock();
      for (const blob of blobs) this.linkBlobNow(repository, blob.digest, blob.size, now);
    })();
  }

  private linkBlobNow(repository: RepositoryName, digest: Digest, size: number, now: number, quota?: QuotaLimit): QuotaExceeded | undefined {
    const exceeded = quota && this.quotaExceeded(repository, digest, size, quota);
    if (exceeded) return exceeded;
    const repositoryId = this.ensureRepository(repository, now);
    this.statements.insertBlob.run(digest, size, now);
    this.statements.insertLink.run(repositoryId, digest, now, now);
    return undefined;
  }

  /** Would adding `digest` push the scope's usage over its limit? Content already counted adds nothing. */
  private quotaExceeded(repository: RepositoryName, digest: Digest, size: number, quota: QuotaLimit): QuotaExceeded | undefined {
    const scope = quota.pattern === undefined ? this.statements.usageOfRepository : this.statements.usageOfPattern;
    const key = quota.pattern ?? repository;
    if (scope.contains.get(key, key, digest)) return undefined;
    const usage = scope.total.get(key, key) as number;
    return usage + size > quota.limitBytes ? { usage, limit: quota.limitBytes, needed: size } : undefined;
  }

  async unlinkBlob(repository: RepositoryName, digest: Digest, journal?: ChangeJournal): Promise<boolean> {
    return this.changeWithJournal(() => this.statements.deleteLink.run(repository, digest).changes > 0, journal);
  }

  /** One statement's change and its journal in one transaction; the journal only if something changed. */
  private changeWithJournal(change: () => boolean, journal: ChangeJournal | undefined): boolean {
    if (!journal) return change();
    return this.db.transaction(() => {
      const changed = change();
      if (changed) this.writeJournal(journal);
      return changed;
    })();
  }

  async getManifest(repository: RepositoryName, digest: Digest): Promise<ManifestRecord | undefined> {
    const row = this.statements.manifestByDigest.get(repository, digest) as ManifestRow | undefined;
    return row && toManifest(row);
  }

  async resolveTag(repository: RepositoryName, tag: Tag): Promise<ManifestRecord | undefined> {
    const row = this.statements.manifestByTag.get(repository, tag) as ManifestRow | undefined;
    return row && toManifest(row);
  }

  async putManifest(entry: NewManifest): Promise<ManifestPutResult> {
    return this.db.transaction((): ManifestPutResult => {
      const { repository, manifest } = entry;
      const missing: MissingReferences = {
        blobs: unique(entry.blobReferences).filter((digest) => !this.statements.linkExists.get(repository, digest)),
        manifests: unique(entry.manifestReferences).filter((digest) => !this.statements.manifestExists.get(repository, digest)),
      };
      if (!entry.partial && (missing.blobs.length > 0 || missing.manifests.length > 0)) return { missing };
      if (entry.tag !== undefined && entry.keepExistingTag) {
        const current = this.statements.taggedDigest.get(repository, entry.tag) as Digest | undefined;
        if (current !== undefined && current !== manifest.digest) return { missing, tagConflict: current };
      }
      if (entry.quota && !this.statements.manifestExists.get(repository, manifest.digest)) {
        const quotaExceeded = this.quotaExceeded(repository, manifest.digest, manifest.size, entry.quota);
        if (quotaExceeded) return { missing, quotaExceeded };
      }

      const now = this.clock();
      const repositoryId = this.ensureRepository(repository, now);
      this.statements.insertBlob.run(manifest.digest, manifest.size, now);
      const inserted = this.statements.insertManifest.run(
        repositoryId,
        manifest.digest,
        manifest.mediaType,
        manifest.size,
        manifest.artifactType ?? null,
        manifest.annotations ? JSON.stringify(manifest.annotations) : null,
        manifest.subject ?? null,
        manifest.description ?? null,
        manifest.platforms && manifest.platforms.length > 0 ? manifest.platforms.join(',') : null,
        now,
      );
      if (inserted.changes > 0) {
        for (const digest of unique(entry.blobReferences)) this.statements.insertReference.run(repositoryId, manifest.digest, digest, 'blob');
        for (const digest of unique(entry.manifestReferences)) this.statements.insertReference.run(repositoryId, manifest.digest, digest, 'manifest');
      }
      // Its layers are referenced as of now: touches before this no longer protect them once unreferenced.
      for (const digest of unique(entry.blobReferences)) this.statements.referenceLink.run(now, repositoryId, digest);
      if (entry.tag !== undefined) {
        this.statements.upsertTag.run(repositoryId, entry.tag, manifest.digest, now);
        // The repository is described by its latest tagged push, as a registry's search shows it.
        this.statements.describeRepository.run(manifest.description ?? null, repositoryId);
      }
      this.writeJournal(entry.journal);
      return { missing };
    })();
  }

  async deleteManifest(repository: RepositoryName, digest: Digest, journal?: ChangeJournal): Promise<boolean> {
    return this.changeWithJournal(() => this.statements.deleteManifest.run(repository, digest).changes > 0, journal);
  }

  async deleteTag(repository: RepositoryName, tag: Tag, journal?: ChangeJournal): Promise<boolean> {
    return this.changeWithJournal(() => this.statements.deleteTag.run(repository, tag).changes > 0, journal);
  }

  async listTags(repository: RepositoryName, limit: number, last?: string): Promise<Page<Tag>> {
    const rows = this.statements.listTags.all(repository, last ?? '', limit + 1) as { name: string }[];
    return page(rows.map((row) => row.name as Tag), limit);
  }

  async repositorySummaries(options: { bytes: boolean }): Promise<RepositorySummary[]> {
    const rows = (options.bytes ? this.statements.repositorySummariesWithBytes : this.statements.repositorySummaries).all() as {
      name: string; description: string | null; tags: number; manifests: number; bytes: number; pushed_at: number | null; pulled_at: number | null;
    }[];
    return rows.map((row) => {
      const summary: RepositorySummary = { name: row.name as RepositoryName, tags: row.tags, manifests: row.manifests, bytes: row.bytes };
      if (row.description !== null) summary.description = row.description;
      if (row.pushed_at !== null) summary.pushedAt = row.pushed_at;
      if (row.pulled_at !== null) summary.pulledAt = row.pulled_at;
      return summary;
    });
  }

  async repositoryBytes(names: RepositoryName[]): Promise<Map<RepositoryName, number>> {
    return new Map(names.map((name) => [name, this.statements.repositoryBytes.get(name, name) as number]));
  }

  async tagSummaries(repository: RepositoryName): Promise<TagSummary[]> {
    const rows = this.statements.tagSummaries.all(repository) as {
      name: string; digest: string; media_type: string; platforms: string | null; bytes: number; updated_at: number; last_pulled_at: number | null;
    }[];
    return rows.map((row) => ({
      tag: row.name as Tag,
      digest: row.digest as Digest,
      mediaType: row.media_type,
      bytes: row.bytes,
      platforms: row.platforms === null ? [] : row.platforms.split(','),
      updatedAt: row.updated_at,
      ...(row.last_pulled_at !== null ? { lastPulledAt: row.last_pulled_at } : {}),
    }));
  }

  async blobSizes(digests: Digest[]): Promise<Map<Digest, number>> {
    const sizes = new Map<Digest, number>();
    for (const digest of unique(digests)) {
      const size = this.statements.blobSize.get(digest) as number | undefined;
      if (size !== undefined) sizes.set(digest, size);
    }
    return sizes;
  }

  async searchRepositories(term: string): Promise<RepositoryMatch[]> {
    const rows = this.statements.searchRepositories.all({ term: term.toLowerCase() }) as { name: string; description: string | null }[];
    return rows.map((row) => (row.description === null ? { name: row.name as RepositoryName } : { name: row.name as RepositoryName, description: row.description }));
  }

  async listReferrers(repository: RepositoryName, digest: Digest): Promise<ManifestRecord[]> {
    return (this.statements.referrers.all(repository, digest) as ManifestRow[]).map(toManifest);
  }

  async createUpload(session: UploadSession): Promise<void> {
    this.relaxed(() => this.statements.insertUpload.run(session.id, session.repository, session.offset, session.createdAt, session.updatedAt));
  }

  async getUpload(id: string): Promise<UploadSession | undefined> {
    const row = this.statements.upload.get(id) as UploadRow | undefined;
    return row && toUpload(row);
  }

  async recordUploadProgress(id: string, progress: UploadProgress): Promise<void> {
    this.relaxed(() => this.statements.recordUploadProgress.run(progress.offset, progress.updatedAt, progress.hashState ?? null, progress.storageState ?? null, id));
  }

  async deleteUpload(id: string): Promise<void> {
    this.relaxed(() => this.statements.deleteUpload.run(id));
  }

  async completeUpload(id: string, repository: RepositoryName, digest: Digest, size: number, quota?: QuotaLimit, journal?: ChangeJournal): Promise<QuotaExceeded | undefined> {
    return this.db.transaction(() => {
      const exceeded = this.linkBlobNow(repository, digest, size, this.clock(), quota);
      if (!exceeded) {
        this.statements.deleteUpload.run(id);
        this.writeJournal(journal);
      }
      return exceeded;
    })();
  }

  async usage(repository: RepositoryName, quota: QuotaLimit): Promise<number> {
    const key = quota.pattern ?? repository;
    return (quota.pattern === undefined ? this.statements.usageOfRepository : this.statements.usageOfPattern).total.get(key, key) as number;
  }

  async listUsage(): Promise<RepositoryUsage[]> {
    return (this.statements.listUsage.all() as { name: string; bytes: number; blobs: number; manifests: number; tags: number }[]).map((row) => ({
      repository: row.name as RepositoryName,
      bytes: row.bytes,
      blobs: row.blobs,
      manifests: row.manifests,
      tags: row.tags,
    }));
  }

  async listTaggedRepositories(): Promise<RepositoryName[]> {
    return this.statements.taggedRepositories.all() as RepositoryName[];
  }

  async listTagDetails(repository: RepositoryName): Promise<TagDetail[]> {
    return (this.statements.tagDetails.all(repository) as { name: string; manifest_digest: string; updated_at: number; last_pulled_at: number | null }[]).map((row) => ({
      tag: row.name as Tag,
      digest: row.manifest_digest as Digest,
      updatedAt: row.updated_at,
      ...(row.last_pulled_at !== null ? { lastPulledAt: row.last_pulled_at } : {}),
    }));
  }

  async removeTags(repository: RepositoryName, tags: Tag[]): Promise<Digest[]> {
    return this.db.transaction(() => {
      const affected = new Set<string>();
      for (const tag of tags) {
        const digest = this.statements.taggedDigest.get(repository, tag) as string | undefined;
        if (digest === undefined) continue;
        this.statements.deleteTag.run(repository, tag);
        affected.add(digest);
      }
      const removed: Digest[] = [];
      for (const digest of affected) {
        if (this.statements.removeIfOrphanedManifest.run(repository, digest).changes > 0) removed.push(digest as Digest);
      }
      return removed;
    })();
  }

  async recordPulls(pulls: { repository: RepositoryName; digest: Digest; at: number }[]): Promise<void> {
    this.relaxed(() =>
      this.db.transaction(() => {
        for (const pull of pulls) this.statements.recordPull.run(pull.at, pull.at, pull.repository, pull.digest);
      })(),
    );
  }

  async listUploadsUpdatedBefore(cutoff: number): Promise<UploadSession[]> {
    return (this.statements.uploadsBefore.all(cutoff) as UploadRow[]).map(toUpload);
  }

  // Collection steps before the blob rows are forgotten commit relaxed: forgetting commits in
  // full before any byte is deleted, and WAL makes every earlier commit durable with it.
  async removeStaleLinks(cutoff: number): Promise<RemovedLink[]> {
    return this.relaxed(() => this.removeStaleLinksNow(cutoff));
  }

  private removeStaleLinksNow(cutoff: number): RemovedLink[] {
    const rows = this.statements.removeStaleLinks.all(cutoff) as { repository_id: number; digest: string }[];
    return rows.map((row) => ({ repository: this.statements.repositoryName.get(row.repository_id) as RepositoryName, digest: row.digest as Digest }));
  }

  async removeUntaggedManifests(cutoff: number): Promise<RemovedManifest[]> {
    return this.db.transaction(() => this.removeUntaggedManifestsNow(cutoff))();
  }

  /** One transaction: a consistent snapshot against concurrent manifest pushes. */
  private removeUntaggedManifestsNow(cutoff: number): RemovedManifest[] {
    const removed: RemovedManifest[] = [];
    const repositories = this.statements.repositoriesWithManifests.all() as { id: number; name: string }[];
    for (const repository of repositories) {
      const manifests = this.statements.manifestGraph.all(repository.id) as { digest: string; subject: string | null; created_at: number; size: number; tagged: number }[];
      const children = new Map<string, string[]>();
      for (const edge of this.statements.manifestEdges.all(repository.id) as { manifest_digest: string; child_digest: string }[]) {
        children.set(edge.manifest_digest, [...(children.get(edge.manifest_digest) ?? []), edge.child_digest]);
      }
      const live = new Set<string>();
      const visit = (digest: string) => {
        if (live.has(digest)) return;
        live.add(digest);
        for (const child of children.get(digest) ?? []) visit(child);
      };
      for (const manifest of manifests) if (manifest.tagged || manifest.created_at >= cutoff) visit(manifest.digest);
      // Referrers of a kept manifest are kept (signatures, SBOMs), and what they reference.
      for (let grew = true; grew; ) {
        grew = false;
        for (const manifest of manifests) {
          if (!live.has(manifest.digest) && manifest.subject !== null && live.has(manifest.subject)) {
            visit(manifest.digest);
            grew = true;
          }
        }
      }
      for (const manifest of manifests) {
        if (live.has(manifest.digest)) continue;
        this.statements.deleteManifestById.run(repository.id, manifest.digest);
        removed.push({ repository: repository.name as RepositoryName, digest: manifest.digest as Digest, size: manifest.size });
      }
    }
    return removed;
  }

  async unreferencedBlobs(): Promise<StoredBlob[]> {
    return this.statements.unreferencedBlobs.all() as StoredBlob[];
  }

  async forgetBlobsIfUnreferenced(digests: Digest[]): Promise<Digest[]> {
    return this.db.transaction(() => digests.filter((digest) => this.statements.forgetBlobIfUnreferenced.run(digest).changes > 0))();
  }

  async recordTouches(touches: { repository: RepositoryName; digest: Digest; at: number }[]): Promise<void> {
    this.relaxed(() =>
      this.db.transaction(() => {
        for (const touch of touches) this.statements.touchLink.run(touch.at, touch.repository, touch.digest);
      })(),
    );
  }

  async restoreLinks(links: RemovedLink[], at: number): Promise<number> {
    return this.db.transaction(() => {
      let restored = 0;
      for (const link of links) {
        if (!this.statements.blobRecorded.get(link.digest)) continue;
        this.statements.insertLink.run(this.ensureRepository(link.repository, at), link.digest, at, at);
        restored += 1;
      }
      return restored;
    })();
  }

  async collectionStatus(touchCutoff: number): Promise<CollectionStatus> {
    const totals = (statement: Database.Statement) => statement.get() as { count: number; bytes: number };
    return {
      stored: totals(this.statements.storedTotals),
      protectedLinks: this.statements.protectedLinks.get(touchCutoff) as { count: number; bytes: number },
      untaggedManifests: totals(this.statements.untaggedManifests),
      uploads: totals(this.statements.uploadTotals),
    };
  }

  async blobRecorded(digest: Digest): Promise<boolean> {
    return this.statements.blobRecorded.get(digest) !== undefined;
  }

  async removeEmptyRepositories(): Promise<RepositoryName[]> {
    return this.relaxed(() => this.statements.removeEmptyRepositories.all() as RepositoryName[]);
  }

  async previewCollection(cutoff: number, deleteUntagged: boolean): Promise<CollectionPreview> {
    let preview: CollectionPreview | undefined;
    try {
      this.db.transaction(() => {
        const manifests = deleteUntagged ? this.removeUntaggedManifestsNow(cutoff) : [];
        const links = this.removeStaleLinksNow(cutoff);
        preview = { links, manifests, blobs: this.statements.unreferencedBlobs.all() as StoredBlob[] };
        throw new RollBack();
      })();
    } catch (error) {
      if (!(error instanceof RollBack)) throw error;
    }
    return preview!;
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    // A lease lost in a power cut only lets another collector start: nothing to make durable.
    return this.relaxed(() => this.statements.acquireLease.run(name, holder, now + ttlMs, now, holder).changes > 0);
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.relaxed(() => this.statements.releaseLease.run(name, holder));
  }

  async heartbeat(instanceId: string, startedAt: number): Promise<void> {
    this.relaxed(() => this.statements.heartbeat.run(instanceId, startedAt, this.clock()));
  }

  async removeInstance(instanceId: string): Promise<void> {
    this.statements.removeInstance.run(instanceId);
  }

  async liveInstances(since: number): Promise<string[]> {
    return this.statements.liveInstances.all(since) as string[];
  }

  async importFinishedAt(source: string): Promise<number | undefined> {
    return this.statements.importFinishedAt.get(source) as number | undefined;
  }

  async recordImportFinished(source: string, at: number, summary: string): Promise<void> {
    this.statements.recordImportFinished.run(source, at, summary);
  }

  private ensureRepository(name: RepositoryName, now: number): number {
    this.statements.insertRepository.run(name, now);
    return (this.statements.repositoryId.get(name) as { id: number }).id;
  }
}

function prepare(db: Database.Database) {
  const repo = '(SELECT id FROM repositories WHERE name = ?)';
  return {
    insertOutbox: db.prepare('INSERT INTO outbox_events (repository, action, media_type, created_at, payload) VALUES (?, ?, ?, ?, ?)'),
    newestOutboxSeq: db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox_events'), 0)").pluck(),
    registerEndpoint: db.prepare('INSERT INTO webhook_endpoints (name, delivered_seq) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
    pendingEvents: db.prepare(
      'SELECT seq, repository, action, media_type, created_at, payload FROM outbox_events WHERE seq > (SELECT delivered_seq FROM webhook_endpoints WHERE name = ?) ORDER BY seq LIMIT ?',
    ),
    recordDelivery: db.prepare(
      'UPDATE webhook_endpoints SET delivered_seq = max(delivered_seq, ?), failures = 0, next_attempt_at = 0, last_success_at = coalesce(?, last_success_at) WHERE name = ?',
    ),
    recordFailure: db.prepare('UPDATE webhook_endpoints SET failures = failures + 1, last_error = ?, last_error_at = ?, next_attempt_at = ? WHERE name = ?'),
    endpointState: db.prepare(
      'SELECT e.*, (SELECT count(*) FROM outbox_events o WHERE o.seq > e.delivered_seq) AS pending FROM webhook_endpoints e WHERE e.name = ?',
    ),
    deliveredSeq: db.prepare('SELECT delivered_seq FROM webhook_endpoints WHERE name = ?').pluck(),
    pruneOutbox: db.prepare('DELETE FROM outbox_events WHERE seq <= ?'),
    insertAudit: db.prepare('INSERT INTO audit_events (at, actor, action, repository, target, address, detail) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    pruneAudit: db.prepare('DELETE FROM audit_events WHERE at < ?'),
    insertRepository: db.prepare('INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
    repositoryId: db.prepare('SELECT id FROM repositories WHERE name = ?'),
    repositoryListed: db.prepare(
      `SELECT 1 FROM repositories r WHERE r.name = ?
         AND (EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
              OR EXISTS (SELECT 1 FROM repository_blobs l WHERE l.repository_id = r.id))`,
    ).pluck(),
    repositoryName: db.prepare('SELECT name FROM repositories WHERE id = ?').pluck(),
    // A repository is listed while it holds a manifest or a blob link; garbage collection
    // removes it once it holds neither, so _catalog and tags/list always agree.
    listRepositories: db.prepare(
      `SELECT r.name FROM repositories r
       WHERE r.name > ? AND (EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
                             OR EXISTS (SELECT 1 FROM repository_blobs l WHERE l.repository_id = r.id))
       ORDER BY r.name LIMIT ?`,
    ),
    importFinishedAt: db.prepare('SELECT finished_at FROM imports WHERE source = ?').pluck(),
    recordImportFinished: db.prepare(
      'INSERT INTO imports (source, finished_at, summary) VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET finished_at = excluded.finished_at, summary = excluded.summary',
    ),
    insertBlob: db.prepare('INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING'),
    insertLink: db.prepare(
      `INSERT INTO repository_blobs (repository_id, digest, created_at, touched_at) VALUES (?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET touched_at = max(touched_at, excluded.touched_at)`,
    ),
    touchLink: db.prepare(`UPDATE repository_blobs SET touched_at = max(touched_at, ?) WHERE repository_id = ${repo} AND digest = ?`),
    referenceLink: db.prepare('UPDATE repository_blobs SET referenced_at = ? WHERE repository_id = ? AND digest = ?'),
    linkExists: db.prepare(`SELECT 1 FROM repository_blobs WHERE repository_id = ${repo} AND digest = ?`).pluck(),
    linkedBlobSize: db.prepare(
      `SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
       WHERE l.repository_id = ${repo} AND l.digest = ?`,
    ),
    deleteLink: db.prepare(`DELETE FROM repository_blobs WHERE repository_id = ${repo} AND digest = ?`),
    manifestExists: db.prepare(`SELECT 1 FROM manifests WHERE repository_id = ${repo} AND digest = ?`).pluck(),
    manifestByDigest: db.prepare(`SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.repository_id = ${repo} AND m.digest = ?`),
    manifestByTag: db.prepare(
      `SELECT ${MANIFEST_COLUMNS} FROM tags t
       JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
       WHERE t.repository_id = ${repo} AND t.name = ?`,
    ),
    insertManifest: db.prepare(
      `INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, annotations, subject, description, platforms, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    // One grouped pass per table rather than subqueries per repository. Sizes (a distinct-union
    // per repository, the expensive part) only when asked for: to sort by size, or for one page.
    ...(() => {
      const stats = `manifest_stats AS (SELECT repository_id, COUNT(*) AS manifests, MAX(created_at) AS created_at, MAX(last_pulled_at) AS pulled_at
                                        FROM manifests GROUP BY repository_id),
            tag_stats AS (SELECT repository_id, COUNT(*) AS tags, MAX(updated_at) AS updated_at FROM tags GROUP BY repository_id)`;
      const columns = `r.name, r.description, COALESCE(t.tags, 0) AS tags, m.manifests,
                       max(m.created_at, COALESCE(t.updated_at, 0)) AS pushed_at, m.pulled_at`;
      const joins = `FROM repositories r JOIN manifest_stats m ON m.repository_id = r.id LEFT JOIN tag_stats t ON t.repository_id = r.id`;
      return {
        repositorySummaries: db.prepare(`WITH ${stats} SELECT ${columns}, 0 AS bytes ${joins} ORDER BY r.name`),
        repositorySummariesWithBytes: db.prepare(
          `WITH ${stats},
                content AS (SELECT repository_id, digest FROM repository_blobs UNION SELECT repository_id, digest FROM manifests),
                sizes AS (SELECT c.repository_id, SUM(b.size) AS bytes FROM content c JOIN blobs b ON b.digest = c.digest GROUP BY c.repository_id)
           SELECT ${columns}, COALESCE(s.bytes, 0) AS bytes ${joins} LEFT JOIN sizes s ON s.repository_id = r.id ORDER BY r.name`,
        ),
        repositoryBytes: db.prepare(
          `SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN
             (SELECT digest FROM repository_blobs WHERE repository_id = ${repo} UNION SELECT digest FROM manifests WHERE repository_id = ${repo})`,
        ).pluck(),
      };
    })(),
    tagSummaries: db.prepare(
      `SELECT t.name, t.manifest_digest AS digest, m.media_type, m.platforms, t.updated_at, m.last_pulled_at,
              m.size + (SELECT COALESCE(SUM(b.size), 0) FROM manifest_references mr JOIN blobs b ON b.digest = mr.child_digest
                        WHERE mr.repository_id = m.repository_id AND mr.manifest_digest = m.digest) AS bytes
       FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
       WHERE t.repository_id = ${repo} ORDER BY t.name`,
    ),
    blobSize: db.prepare('SELECT size FROM blobs WHERE digest = ?').pluck(),
    describeRepository: db.prepare('UPDATE repositories SET description = ? WHERE id = ?'),
    // instr() rather than LIKE: a term holding % or _ means itself. Names are lower case (OCI grammar).
    searchRepositories: db.prepare(
      `SELECT r.name, r.description FROM repositories r
       WHERE (instr(r.name, :term) > 0 OR instr(lower(r.description), :term) > 0)
         AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
       ORDER BY CASE WHEN r.name = :term THEN 0
                     WHEN substr(r.name, 1, length(:term)) = :term THEN 1
                     WHEN instr(r.name, :term) > 0 THEN 2
                     ELSE 3 END, r.name`,
    ),
    insertReference: db.prepare(
      'INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, child_kind) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    upsertTag: db.prepare(
      `INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at`,
    ),
    deleteManifest: db.prepare(`DELETE FROM manifests WHERE repository_id = ${repo} AND digest = ?`),
    deleteTag: db.prepare(`DELETE FROM tags WHERE repository_id = ${repo} AND name = ?`),
    listTags: db.prepare(`SELECT name FROM tags WHERE repository_id = ${repo} AND name > ? ORDER BY name LIMIT ?`),
    referrers: db.prepare(`SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.repository_id = ${repo} AND m.subject = ? ORDER BY m.digest`),
    insertUpload: db.prepare('INSERT INTO uploads (id, repository_name, byte_offset, created_at, updated_at) VALUES (?, ?, ?, ?, ?)'),
    upload: db.prepare('SELECT * FROM uploads WHERE id = ?'),
    recordUploadProgress: db.prepare('UPDATE uploads SET byte_offset = ?, updated_at = ?, hash_state = ?, storage_state = ? WHERE id = ?'),
    deleteUpload: db.prepare('DELETE FROM uploads WHERE id = ?'),
    uploadsBefore: db.prepare('SELECT * FROM uploads WHERE updated_at < ? ORDER BY updated_at'),
    removeStaleLinks: db.prepare(
      `DELETE FROM repository_blobs
       WHERE NOT (touched_at > referenced_at AND touched_at >= ?)
         AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                         WHERE mr.repository_id = repository_blobs.repository_id AND mr.child_digest = repository_blobs.digest AND mr.child_kind = 'blob')
       RETURNING repository_id, digest`,
    ),
    protectedLinks: db.prepare(
      `SELECT count(*) AS count, coalesce(sum(b.size), 0) AS bytes FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
       WHERE l.touched_at > l.referenced_at AND l.touched_at >= ?
         AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                         WHERE mr.repository_id = l.repository_id AND mr.child_digest = l.digest AND mr.child_kind = 'blob')`,
    ),
    storedTotals: db.prepare('SELECT count(*) AS count, coalesce(sum(size), 0) AS bytes FROM blobs'),
    untaggedManifests: db.prepare(
      `SELECT count(*) AS count, coalesce(sum(m.size), 0) AS bytes FROM manifests m
       WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest)`,
    ),
    uploadTotals: db.prepare('SELECT count(*) AS count, coalesce(sum(byte_offset), 0) AS bytes FROM uploads'),
    deleteRepository: db.prepare('DELETE FROM repositories WHERE name = ? RETURNING id').pluck(),
    deleteRepositoryUploads: db.prepare('DELETE FROM uploads WHERE repository_name = ? RETURNING id').pluck(),
    repositoriesWithManifests: db.prepare('SELECT id, name FROM repositories r WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)'),
    manifestGraph: db.prepare(
      `SELECT m.digest, m.subject, m.created_at, m.size,
              EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest) AS tagged
       FROM manifests m WHERE m.repository_id = ?`,
    ),
    manifestEdges: db.prepare("SELECT manifest_digest, child_digest FROM manifest_references WHERE repository_id = ? AND child_kind = 'manifest'"),
    deleteManifestById: db.prepare('DELETE FROM manifests WHERE repository_id = ? AND digest = ?'),
    unreferencedBlobs: db.prepare(
      `SELECT b.digest, b.size FROM blobs b
       WHERE NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)
         AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)`,
    ),
    forgetBlobIfUnreferenced: db.prepare(
      `DELETE FROM blobs WHERE digest = ?
         AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = blobs.digest)
         AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = blobs.digest)`,
    ),
    blobRecorded: db.prepare('SELECT 1 FROM blobs WHERE digest = ?').pluck(),
    removeEmptyRepositories: db.prepare(
      `DELETE FROM repositories
       WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = repositories.id)
         AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.repository_id = repositories.id)
       RETURNING name`,
    ).pluck(),
    acquireLease: db.prepare(
      `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE leases.expires_at < ? OR leases.holder = ?`,
    ),
    releaseLease: db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?'),
    heartbeat: db.prepare(
      `INSERT INTO instances (id, started_at, heartbeat_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
    ),
    removeInstance: db.prepare('DELETE FROM instances WHERE id = ?'),
    liveInstances: db.prepare('SELECT id FROM instances WHERE heartbeat_at > ?').pluck(),
    taggedDigest: db.prepare(`SELECT manifest_digest FROM tags WHERE repository_id = ${repo} AND name = ?`).pluck(),
    usageOfRepository: usageStatements(db, 'r.name = ?'),
    usageOfPattern: usageStatements(db, 'r.name GLOB ?'),
    listUsage: db.prepare(
      `SELECT r.name,
              (SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN
                 (SELECT digest FROM repository_blobs WHERE repository_id = r.id UNION SELECT digest FROM manifests WHERE repository_id = r.id)) AS bytes,
              (SELECT COUNT(*) FROM repository_blobs WHERE repository_id = r.id) AS blobs,
              (SELECT COUNT(*) FROM manifests WHERE repository_id = r.id) AS manifests,
              (SELECT COUNT(*) FROM tags WHERE repository_id = r.id) AS tags
       FROM repositories r ORDER BY r.name`,
    ),
    taggedRepositories: db.prepare('SELECT r.name FROM repositories r WHERE EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = r.id) ORDER BY r.name').pluck(),
    tagDetails: db.prepare(
      `SELECT t.name, t.manifest_digest, t.updated_at, m.last_pulled_at FROM tags t
       JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
       WHERE t.repository_id = ${repo} ORDER BY t.updated_at DESC, t.name`,
    ),
    removeIfOrphanedManifest: db.prepare(
      `DELETE FROM manifests WHERE repository_id = ${repo} AND digest = ?
         AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = manifests.repository_id AND t.manifest_digest = manifests.digest)
         AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                         WHERE mr.repository_id = manifests.repository_id AND mr.child_digest = manifests.digest AND mr.child_kind = 'manifest')`,
    ),
    recordPull: db.prepare(
      `UPDATE manifests SET last_pulled_at = ? WHERE (last_pulled_at IS NULL OR last_pulled_at < ?)
         AND repository_id = ${repo} AND digest = ?`,
    ),
  };
}

/** Usage of a scope (one repository by name, or every repository matching a GLOB), each blob once. */
function usageStatements(db: Database.Database, match: string) {
  const scope = `SELECT l.digest FROM repository_blobs l JOIN repositories r ON r.id = l.repository_id WHERE ${match}
                 UNION SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE ${match}`;
  return {
    total: db.prepare(`SELECT COALESCE(SUM(size), 0) FROM blobs WHERE digest IN (${scope})`).pluck(),
    contains: db.prepare(`SELECT 1 FROM (${scope}) WHERE digest = ?`).pluck(),
  };
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]));
  const newest = Math.max(0, ...applied);
  const known = Math.max(...MIGRATIONS.map((migration) => migration.version));
  if (newest > known) {
    throw new Error(`the metadata database is at schema version ${newest}, newer than this Berth knows (${known}); upgrade Berth`);
  }
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(migration.version, Date.now());
    })();
  }
}

function toManifest(row: ManifestRow): ManifestRecord {
  const record: ManifestRecord = { digest: row.digest as Digest, mediaType: row.media_type, size: row.size, createdAt: row.created_at };
  if (row.artifact_type !== null) record.artifactType = row.artifact_type;
  if (row.annotations !== null) record.annotations = JSON.parse(row.annotations) as Record<string, string>;
  if (row.subject !== null) record.subject = row.subject as Digest;
  if (row.description !== null) record.description = row.description;
  if (row.platforms !== null) record.platforms = row.platforms.split(',');
  return record;
}

function toUpload(row: UploadRow): UploadSession {
  return {
    id: row.id,
    repository: row.repository_name as RepositoryName,
    offset: row.byte_offset,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(row.hash_state !== null && { hashState: new Uint8Array(row.hash_state) }),
    ...(row.storage_state !== null && { storageState: row.storage_state }),
  };
}

/** Thrown inside a transaction to roll it back on purpose. */
class RollBack extends Error {}

function page<T>(rows: T[], limit: number): Page<T> {
  return { items: rows.slice(0, limit), more: rows.length > limit };
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
