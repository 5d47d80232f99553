import type { Digest } from '../../oci/digest.js';
import type { RepositoryName, Tag } from '../../oci/names.js';
import type {
  AuditQuery,
  AuditRow,
  ChangeJournal,
  CollectionPreview,
  CollectionStatus,
  ForgottenBlob,
  ManifestPutResult,
  ManifestRecord,
  MetadataStore,
  MissingReferences,
  NewManifest,
  OutboxRow,
  Page,
  PolicyRuleRow,
  QuotaExceeded,
  QuotaLimit,
  RemovedLink,
  RemovedManifest,
  RepositoryMatch,
  RepositorySort,
  RepositorySummary,
  RepositoryUsage,
  SortOrder,
  StoredAuditRow,
  StoredBlob,
  StoredOutboxEvent,
  TagDetail,
  TagSummary,
  Totals,
  UploadProgress,
  UploadSession,
  WebhookEndpointState,
} from '../store.js';
import type { SqlDatabase, SqlExecutor, SqlValue } from './database.js';
import { migrate } from './migrate.js';
import { globToLike, likeContaining, metadataStatements, orderedRepositories, type MetadataStatements } from './statements.js';

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
  hash_state: Uint8Array | null;
  storage_state: string | null;
}

/**
 * The metadata store, on any `SqlDatabase` (SQLite embedded, PostgreSQL for replicas): every
 * rule — reference checks, disable-redeploy, quotas, the untagged-manifest walk, the dry-run
 * preview — lives here once, in SQL both databases run. Each method is one short transaction
 * (or one statement); none is held open across a stream. Bookkeeping that a power cut may lose
 * without losing acknowledged content (upload sessions and offsets, pull times, heartbeats,
 * collection steps before blob rows are forgotten) commits relaxed.
 */
export class SqlMetadataStore implements MetadataStore {
  readonly description: string;
  private readonly sql: MetadataStatements;

  /** `clock` stamps pushes, links, leases and heartbeats; tests pass their own to order pushes. */
  constructor(
    private readonly db: SqlDatabase,
    private readonly clock: () => number = Date.now,
  ) {
    this.description = db.description;
    this.sql = metadataStatements(db.dialect);
  }

  /** Migrates the schema if needed (see `migrate.ts`), then opens the store. */
  static async open(db: SqlDatabase, clock: () => number = Date.now): Promise<SqlMetadataStore> {
    try {
      await migrate(db);
    } catch (error) {
      await db.close();
      throw error;
    }
    return new SqlMetadataStore(db, clock);
  }

  async appendOutbox(rows: OutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.transaction((tx) => this.writeJournal(tx, { outbox: rows, audit: [] }));
  }

  async registerEndpoints(names: string[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      const newest = (await tx.get<{ seq: number }>(this.sql.newestOutboxSeq))!.seq;
      for (const name of names) await tx.run(this.sql.registerEndpoint, [name, newest]);
    });
  }

  async pendingEvents(endpoint: string, limit: number): Promise<StoredOutboxEvent[]> {
    const rows = await this.db.all<{ seq: number; repository: string; action: string; media_type: string; created_at: number; payload: string }>(this.sql.pendingEvents, [endpoint, limit]);
    return rows.map((row) => ({ seq: row.seq, repository: row.repository, action: row.action, mediaType: row.media_type, createdAt: row.created_at, payload: row.payload }));
  }

  async recordDelivery(endpoint: string, throughSeq: number, at: number, succeeded: boolean): Promise<void> {
    await this.db.run(this.sql.recordDelivery, [throughSeq, succeeded ? at : null, endpoint]);
  }

  async recordFailure(endpoint: string, error: string, at: number, nextAttemptAt: number): Promise<void> {
    await this.db.run(this.sql.recordFailure, [error, at, nextAttemptAt, endpoint]);
  }

  async endpointStates(names: string[]): Promise<WebhookEndpointState[]> {
    const states: WebhookEndpointState[] = [];
    for (const name of names) {
      const row = await this.db.get<{
        name: string; delivered_seq: number; pending: number; failures: number; next_attempt_at: number; last_error: string | null; last_error_at: number | null; last_success_at: number | null;
      }>(this.sql.endpointState, [name]);
      if (!row) continue;
      const state: WebhookEndpointState = { name: row.name, deliveredSeq: row.delivered_seq, pending: row.pending, failures: row.failures, nextAttemptAt: row.next_attempt_at };
      if (row.last_error !== null) state.lastError = row.last_error;
      if (row.last_error_at !== null) state.lastErrorAt = row.last_error_at;
      if (row.last_success_at !== null) state.lastSuccessAt = row.last_success_at;
      states.push(state);
    }
    return states;
  }

  async pruneOutbox(endpoints: string[]): Promise<number> {
    return this.db.transaction(async (tx) => {
      const delivered: number[] = [];
      for (const name of endpoints) {
        const row = await tx.get<{ delivered_seq: number }>(this.sql.deliveredSeq, [name]);
        // An endpoint with no state yet has delivered nothing: keep everything for it.
        if (!row) return 0;
        delivered.push(row.delivered_seq);
      }
      const through = endpoints.length === 0 ? (await tx.get<{ seq: number }>(this.sql.newestOutboxSeq))!.seq : Math.min(...delivered);
      return tx.run(this.sql.pruneOutbox, [through]);
    }, { relaxed: true });
  }

  async appendAudit(rows: AuditRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.transaction(async (tx) => {
      for (const row of rows) await this.insertAuditRow(tx, row);
    });
  }

  async queryAudit(query: AuditQuery): Promise<StoredAuditRow[]> {
    const conditions = ['id > ?'];
    const values: SqlValue[] = [query.after ?? 0];
    if (query.actor !== undefined) (conditions.push('actor = ?'), values.push(query.actor));
    if (query.repository !== undefined) (conditions.push('repository = ?'), values.push(query.repository));
    if (query.action !== undefined) (conditions.push('action = ?'), values.push(query.action));
    if (query.since !== undefined) (conditions.push('at >= ?'), values.push(query.since));
    if (query.until !== undefined) (conditions.push('at < ?'), values.push(query.until));
    const rows = await this.db.all<{ id: number; at: number; actor: string; action: string; repository: string | null; target: string | null; address: string | null; detail: string | null }>(
      `SELECT id, at, actor, action, repository, target, address, detail FROM audit_events WHERE ${conditions.join(' AND ')} ORDER BY id LIMIT ?`,
      [...values, query.limit],
    );
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
    return this.db.run(this.sql.pruneAudit, [before]);
  }

  async listPolicyRules(): Promise<PolicyRuleRow[]> {
    const rows = await this.db.all<{ pattern: string; rule: string; updated_at: number; updated_by: string }>(this.sql.listPolicyRules);
    return rows.map((row) => ({ pattern: row.pattern, rule: row.rule, updatedAt: row.updated_at, updatedBy: row.updated_by }));
  }

  async putPolicyRule(row: PolicyRuleRow, audit?: AuditRow): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run(this.sql.putPolicyRule, [row.pattern, row.rule, row.updatedAt, row.updatedBy]);
      if (audit) await this.insertAuditRow(tx, audit);
    });
  }

  async removePolicyRule(pattern: string, audit?: AuditRow): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const removed = (await tx.run(this.sql.removePolicyRule, [pattern])) > 0;
      if (removed && audit) await this.insertAuditRow(tx, audit);
      return removed;
    });
  }

  async ping(): Promise<void> {
    await this.db.get('SELECT 1 AS one');
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  async listRepositories(limit: number, last?: string): Promise<Page<RepositoryName>> {
    const rows = await this.db.all<{ name: string }>(this.sql.listRepositories, [last ?? '', limit + 1]);
    return page(rows.map((row) => row.name as RepositoryName), limit);
  }

  async repositoryExists(repository: RepositoryName): Promise<boolean> {
    return (await this.db.get(this.sql.repositoryListed, [repository])) !== undefined;
  }

  async deleteRepository(repository: RepositoryName, journal?: ChangeJournal): Promise<{ deleted: boolean; uploads: string[] }> {
    return this.db.transaction(async (tx) => {
      const listed = (await tx.get(this.sql.repositoryListed, [repository])) !== undefined;
      await tx.run(this.sql.deleteRepository, [repository]);
      const uploads = (await tx.all<{ id: string }>(this.sql.deleteRepositoryUploads, [repository])).map((row) => row.id);
      if (listed || uploads.length > 0) await this.writeJournal(tx, journal);
      return { deleted: listed, uploads };
    });
  }

  async linkedBlobSize(repository: RepositoryName, digest: Digest): Promise<number | undefined> {
    return (await this.db.get<{ size: number }>(this.sql.linkedBlobSize, [repository, digest]))?.size;
  }

  async linkBlob(repository: RepositoryName, digest: Digest, size: number, quota?: QuotaLimit, journal?: ChangeJournal, content?: Buffer): Promise<QuotaExceeded | undefined> {
    return this.db.transaction(async (tx) => {
      const exceeded = await this.linkBlobNow(tx, repository, digest, size, this.clock(), quota, content);
      if (!exceeded) await this.writeJournal(tx, journal);
      return exceeded;
    });
  }

  /** The change's journal rows, inside the caller's transaction. */
  private async writeJournal(tx: SqlExecutor, journal: ChangeJournal | undefined): Promise<void> {
    if (!journal) return;
    if (journal.outbox.length > 0 && this.db.dialect.serialiseOutbox) await tx.get(this.db.dialect.serialiseOutbox);
    for (const row of journal.outbox) await tx.run(this.sql.insertOutbox, [row.repository, row.action, row.mediaType, row.createdAt, row.payload]);
    for (const row of journal.audit) await this.insertAuditRow(tx, row);
  }

  private async insertAuditRow(tx: SqlExecutor, row: AuditRow): Promise<void> {
    await tx.run(this.sql.insertAudit, [row.at, row.actor, row.action, row.repository ?? null, row.target ?? null, row.address ?? null, row.detail ?? null]);
  }

  async linkBlobs(repository: RepositoryName, blobs: { digest: Digest; size: number; content?: Buffer }[]): Promise<void> {
    if (blobs.length === 0) return;
    await this.db.transaction(async (tx) => {
      const now = this.clock();
      for (const blob of blobs) await this.linkBlobNow(tx, repository, blob.digest, blob.size, now, undefined, blob.content);
    });
  }

  async inlineBlob(digest: Digest): Promise<Buffer | undefined> {
    const row = await this.db.get<{ content: Uint8Array }>(this.sql.inlineBlob, [digest]);
    return row && Buffer.from(row.content.buffer, row.content.byteOffset, row.content.byteLength);
  }

  private async linkBlobNow(tx: SqlExecutor, repository: RepositoryName, digest: Digest, size: number, now: number, quota?: QuotaLimit, content?: Buffer): Promise<QuotaExceeded | undefined> {
    const exceeded = quota && (await this.quotaExceeded(tx, repository, digest, size, quota));
    if (exceeded) return exceeded;
    const repositoryId = await this.ensureRepository(tx, repository, now);
    await tx.run(this.sql.insertBlob, [digest, size, now, content ?? null]);
    await this.insertLink(tx, repositoryId, digest, now);
    return undefined;
  }

  /** A link (its blob row written), counted in the repository's bytes when it holds the blob for the first time. */
  private async insertLink(tx: SqlExecutor, repositoryId: number, digest: Digest, at: number): Promise<void> {
    await this.addContentToStats(tx, repositoryId, digest);
    await tx.run(this.sql.insertLink, [repositoryId, digest, at, at]);
  }

  /** Before a link or manifest row for `digest` is written: its bytes count unless the repository already holds it. */
  private async addContentToStats(tx: SqlExecutor, repositoryId: number, digest: Digest): Promise<void> {
    await tx.run(this.sql.addStatsContent, [digest, repositoryId, repositoryId, digest, repositoryId, digest]);
  }

  /** Recounts the statistics of repositories that lost content (the one place every number is defined). */
  private async refreshStats(tx: SqlExecutor, repositoryIds: Iterable<number>): Promise<void> {
    for (const id of new Set(repositoryIds)) await tx.run(this.sql.refreshStats, [id]);
  }

  /** Would adding `digest` push the scope's usage over its limit? Content already counted adds nothing. */
  private async quotaExceeded(tx: SqlExecutor, repository: RepositoryName, digest: Digest, size: number, quota: QuotaLimit): Promise<QuotaExceeded | undefined> {
    const { statements, key } = this.quotaScope(repository, quota);
    if (await tx.get(statements.contains, [key, key, digest])) return undefined;
    const usage = (await tx.get<{ bytes: number }>(statements.total, [key, key]))!.bytes;
    return usage + size > quota.limitBytes ? { usage, limit: quota.limitBytes, needed: size } : undefined;
  }

  private quotaScope(repository: RepositoryName, quota: QuotaLimit) {
    return quota.pattern === undefined
      ? { statements: this.sql.usageOfRepository, key: repository as string }
      : { statements: this.sql.usageOfPattern, key: globToLike(quota.pattern) };
  }

  async unlinkBlob(repository: RepositoryName, digest: Digest, journal?: ChangeJournal): Promise<boolean> {
    return this.removeWithJournal(repository, this.sql.deleteLink, [repository, digest], journal);
  }

  /**
   * One statement's removal, the repository's statistics recounted and the change's journal, in
   * one transaction; statistics and journal only if something was removed.
   */
  private async removeWithJournal(repository: RepositoryName, statement: string, params: SqlValue[], journal: ChangeJournal | undefined): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const changed = (await tx.run(statement, params)) > 0;
      if (changed) {
        await this.refreshStats(tx, [(await tx.get<{ id: number }>(this.sql.repositoryId, [repository]))!.id]);
        await this.writeJournal(tx, journal);
      }
      return changed;
    });
  }

  async getManifest(repository: RepositoryName, digest: Digest): Promise<ManifestRecord | undefined> {
    const row = await this.db.get<ManifestRow>(this.sql.manifestByDigest, [repository, digest]);
    return row && toManifest(row);
  }

  async resolveTag(repository: RepositoryName, tag: Tag): Promise<ManifestRecord | undefined> {
    const row = await this.db.get<ManifestRow>(this.sql.manifestByTag, [repository, tag]);
    return row && toManifest(row);
  }

  async putManifest(entry: NewManifest): Promise<ManifestPutResult> {
    return this.db.transaction(async (tx): Promise<ManifestPutResult> => {
      const { repository, manifest } = entry;
      const blobReferences = unique(entry.blobReferences);
      const manifestReferences = unique(entry.manifestReferences);
      const missing: MissingReferences = {
        blobs: await this.absent(tx, this.sql.linkExists, repository, blobReferences),
        manifests: await this.absent(tx, this.sql.manifestExists, repository, manifestReferences),
      };
      if (!entry.partial && (missing.blobs.length > 0 || missing.manifests.length > 0)) return { missing };
      const tagged = entry.tag === undefined ? undefined : (await tx.get<{ manifest_digest: Digest }>(this.sql.taggedDigest, [repository, entry.tag]))?.manifest_digest;
      if (entry.keepExistingTag && tagged !== undefined && tagged !== manifest.digest) return { missing, tagConflict: tagged };
      if (entry.quota && !(await tx.get(this.sql.manifestExists, [repository, manifest.digest]))) {
        const quotaExceeded = await this.quotaExceeded(tx, repository, manifest.digest, manifest.size, entry.quota);
        if (quotaExceeded) return { missing, quotaExceeded };
      }

      const now = this.clock();
      const repositoryId = await this.ensureRepository(tx, repository, now);
      if (entry.partial) await tx.run(this.sql.markProxyCache, [repositoryId]);
      await tx.run(this.sql.insertBlob, [manifest.digest, manifest.size, now, entry.content ?? null]);
      await this.addContentToStats(tx, repositoryId, manifest.digest);
      const inserted = await tx.run(this.sql.insertManifest, [
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
      ]);
      if (inserted > 0) {
        for (const digest of blobReferences) await tx.run(this.sql.insertReference, [repositoryId, manifest.digest, digest, 'blob']);
        for (const digest of manifestReferences) await tx.run(this.sql.insertReference, [repositoryId, manifest.digest, digest, 'manifest']);
      }
      // Its layers are referenced as of now: touches before this no longer protect them once unreferenced.
      for (const digest of blobReferences) await tx.run(this.sql.referenceLink, [now, repositoryId, digest]);
      if (entry.tag !== undefined) {
        await tx.run(this.sql.upsertTag, [repositoryId, entry.tag, manifest.digest, now]);
        // The repository is described by its latest tagged push, as a registry's search shows it.
        const description = manifest.description ?? null;
        if ((await tx.run(this.sql.describeRepositoryIfChanged, [description, repositoryId, description])) > 0) await this.indexForSearch(tx, repositoryId);
      }
      // A stored manifest or a moved tag is a push: counts and the push time only grow here.
      if (inserted > 0 || entry.tag !== undefined) await tx.run(this.sql.addStatsPush, [inserted, entry.tag !== undefined && tagged === undefined ? 1 : 0, now, repositoryId]);
      await this.writeJournal(tx, entry.journal);
      return { missing };
    });
  }

  /** Those of `digests` the repository does not hold, by `exists` (a link or a manifest). */
  private async absent(tx: SqlExecutor, exists: string, repository: RepositoryName, digests: Digest[]): Promise<Digest[]> {
    const missing: Digest[] = [];
    for (const digest of digests) if (!(await tx.get(exists, [repository, digest]))) missing.push(digest);
    return missing;
  }

  async deleteManifest(repository: RepositoryName, digest: Digest, journal?: ChangeJournal): Promise<boolean> {
    return this.removeWithJournal(repository, this.sql.deleteManifest, [repository, digest], journal);
  }

  async deleteTag(repository: RepositoryName, tag: Tag, journal?: ChangeJournal): Promise<boolean> {
    return this.removeWithJournal(repository, this.sql.deleteTag, [repository, tag], journal);
  }

  async listTags(repository: RepositoryName, limit: number, last?: string): Promise<Page<Tag>> {
    const rows = await this.db.all<{ name: string }>(this.sql.listTags, [repository, last ?? '', limit + 1]);
    return page(rows.map((row) => row.name as Tag), limit);
  }

  async orderedRepositories(options: { sort: RepositorySort; order: SortOrder; filter: string }): Promise<RepositoryName[]> {
    const filtered = options.filter !== '';
    const rows = await this.db.all<{ name: RepositoryName }>(
      orderedRepositories(this.db.dialect, options.sort, options.order, filtered),
      filtered ? [options.filter, likeContaining(options.filter)] : [],
    );
    return rows.map((row) => row.name);
  }

  async repositorySummaries(names: RepositoryName[]): Promise<RepositorySummary[]> {
    if (names.length === 0) return [];
    const rows = await this.db.all<{ name: string; description: string | null; tags: number; manifests: number; bytes: number; pushed_at: number | null; pulled_at: number | null }>(
      this.sql.repositorySummaries,
      [JSON.stringify(names)],
    );
    const byName = new Map(rows.map((row) => [row.name, row]));
    const summaries: RepositorySummary[] = [];
    // In the order asked for: the caller's sort, not the database's.
    for (const name of names) {
      const row = byName.get(name);
      if (!row) continue;
      const summary: RepositorySummary = { name, tags: row.tags, manifests: row.manifests, bytes: row.bytes };
      if (row.description !== null) summary.description = row.description;
      if (row.pushed_at !== null) summary.pushedAt = row.pushed_at;
      if (row.pulled_at !== null) summary.pulledAt = row.pulled_at;
      summaries.push(summary);
    }
    return summaries;
  }

  async tagSummaries(repository: RepositoryName): Promise<TagSummary[]> {
    const rows = await this.db.all<{ name: string; digest: string; media_type: string; platforms: string | null; bytes: number; updated_at: number; last_pulled_at: number | null }>(
      this.sql.tagSummaries,
      [repository],
    );
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
      const row = await this.db.get<{ size: number }>(this.sql.blobSize, [digest]);
      if (row) sizes.set(digest, row.size);
    }
    return sizes;
  }

  async searchRepositories(term: string): Promise<RepositoryMatch[]> {
    const lower = term.toLowerCase();
    const match = [lower, likeContaining(lower), lower, lower, lower, lower];
    const trigram = await this.rarestTrigram(lower);
    const rows = await this.db.all<{ name: string; description: string | null }>(
      trigram === undefined ? this.sql.searchRepositories : this.sql.searchRepositoriesByTrigram,
      trigram === undefined ? match : [trigram, ...match],
    );
    return rows.map((row) => (row.description === null ? { name: row.name as RepositoryName } : { name: row.name as RepositoryName, description: row.description }));
  }

  async listReferrers(repository: RepositoryName, digest: Digest): Promise<ManifestRecord[]> {
    return (await this.db.all<ManifestRow>(this.sql.referrers, [repository, digest])).map(toManifest);
  }

  async createUpload(session: UploadSession): Promise<void> {
    await this.relaxed(this.sql.insertUpload, [session.id, session.repository, session.offset, session.createdAt, session.updatedAt]);
  }

  async getUpload(id: string): Promise<UploadSession | undefined> {
    const row = await this.db.get<UploadRow>(this.sql.upload, [id]);
    return row && toUpload(row);
  }

  async recordUploadProgress(id: string, progress: UploadProgress): Promise<void> {
    await this.relaxed(this.sql.recordUploadProgress, [progress.offset, progress.updatedAt, progress.hashState ?? null, progress.storageState ?? null, id]);
  }

  async deleteUpload(id: string): Promise<void> {
    await this.relaxed(this.sql.deleteUpload, [id]);
  }

  /** One statement that a power cut may lose (see the class comment). */
  private relaxed(statement: string, params: SqlValue[]): Promise<number> {
    return this.db.transaction((tx) => tx.run(statement, params), { relaxed: true });
  }

  async completeUpload(id: string, repository: RepositoryName, digest: Digest, size: number, quota?: QuotaLimit, journal?: ChangeJournal, content?: Buffer): Promise<QuotaExceeded | undefined> {
    return this.db.transaction(async (tx) => {
      const exceeded = await this.linkBlobNow(tx, repository, digest, size, this.clock(), quota, content);
      if (!exceeded) {
        await tx.run(this.sql.deleteUpload, [id]);
        await this.writeJournal(tx, journal);
      }
      return exceeded;
    });
  }

  async usage(repository: RepositoryName, quota: QuotaLimit): Promise<number> {
    const { statements, key } = this.quotaScope(repository, quota);
    return (await this.db.get<{ bytes: number }>(statements.total, [key, key]))!.bytes;
  }

  async listUsage(): Promise<RepositoryUsage[]> {
    const rows = await this.db.all<{ name: string; bytes: number; blobs: number; manifests: number; tags: number }>(this.sql.listUsage);
    return rows.map((row) => ({ repository: row.name as RepositoryName, bytes: row.bytes, blobs: row.blobs, manifests: row.manifests, tags: row.tags }));
  }

  async proxyCacheRepositories(): Promise<RepositoryName[]> {
    return (await this.db.all<{ name: RepositoryName }>(this.sql.proxyCacheRepositories)).map((row) => row.name);
  }

  async isProxyCache(repository: RepositoryName): Promise<boolean> {
    return (await this.db.get<{ proxy_cache: number }>(this.sql.isProxyCache, [repository]))?.proxy_cache === 1;
  }

  async listTaggedRepositories(): Promise<RepositoryName[]> {
    return (await this.db.all<{ name: RepositoryName }>(this.sql.taggedRepositories)).map((row) => row.name);
  }

  async listTagDetails(repository: RepositoryName): Promise<TagDetail[]> {
    const rows = await this.db.all<{ name: string; manifest_digest: string; updated_at: number; last_pulled_at: number | null }>(this.sql.tagDetails, [repository]);
    return rows.map((row) => ({
      tag: row.name as Tag,
      digest: row.manifest_digest as Digest,
      updatedAt: row.updated_at,
      ...(row.last_pulled_at !== null ? { lastPulledAt: row.last_pulled_at } : {}),
    }));
  }

  async removeTags(repository: RepositoryName, tags: Tag[]): Promise<Digest[]> {
    return this.db.transaction(async (tx) => {
      const affected = new Set<Digest>();
      for (const tag of tags) {
        const row = await tx.get<{ manifest_digest: Digest }>(this.sql.taggedDigest, [repository, tag]);
        if (!row) continue;
        await tx.run(this.sql.deleteTag, [repository, tag]);
        affected.add(row.manifest_digest);
      }
      const removed: Digest[] = [];
      for (const digest of affected) if ((await tx.run(this.sql.removeIfOrphanedManifest, [repository, digest])) > 0) removed.push(digest);
      if (affected.size > 0) await this.refreshStats(tx, [(await tx.get<{ id: number }>(this.sql.repositoryId, [repository]))!.id]);
      return removed;
    });
  }

  async recordPulls(pulls: { repository: RepositoryName; digest: Digest; at: number }[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const pull of pulls) {
        if ((await tx.run(this.sql.recordPull, [pull.at, pull.at, pull.repository, pull.digest])) > 0) await tx.run(this.sql.addStatsPull, [pull.at, pull.repository]);
      }
    }, { relaxed: true });
  }

  async listUploadsUpdatedBefore(cutoff: number): Promise<UploadSession[]> {
    return (await this.db.all<UploadRow>(this.sql.uploadsBefore, [cutoff])).map(toUpload);
  }

  // Collection steps before the blob rows are forgotten commit relaxed: forgetting commits in
  // full before any byte is deleted, and makes every earlier commit durable with it.
  async removeStaleLinks(cutoff: number): Promise<RemovedLink[]> {
    return this.db.transaction((tx) => this.removeStaleLinksNow(tx, cutoff), { relaxed: true });
  }

  private async removeStaleLinksNow(tx: SqlExecutor, cutoff: number): Promise<RemovedLink[]> {
    const rows = await tx.all<{ repository_id: number; digest: Digest }>(this.sql.removeStaleLinks, [cutoff]);
    const names = new Map<number, RepositoryName>();
    const removed: RemovedLink[] = [];
    for (const row of rows) {
      let name = names.get(row.repository_id);
      if (name === undefined) {
        name = (await tx.get<{ name: RepositoryName }>(this.sql.repositoryName, [row.repository_id]))!.name;
        names.set(row.repository_id, name);
      }
      removed.push({ repository: name, digest: row.digest });
    }
    await this.refreshStats(tx, names.keys());
    return removed;
  }

  async removeUntaggedManifests(cutoff: number): Promise<RemovedManifest[]> {
    return this.db.transaction((tx) => this.removeUntaggedManifestsNow(tx, cutoff));
  }

  /** One transaction: a consistent snapshot against concurrent manifest pushes. */
  private async removeUntaggedManifestsNow(tx: SqlExecutor, cutoff: number): Promise<RemovedManifest[]> {
    const rows = await tx.all<{ repository_id: number; repository: RepositoryName; digest: Digest; size: number }>(this.sql.unreachableManifests, [cutoff]);
    for (const row of rows) await tx.run(this.sql.deleteManifestById, [row.repository_id, row.digest]);
    await this.refreshStats(tx, rows.map((row) => row.repository_id));
    return rows.map((row) => ({ repository: row.repository, digest: row.digest, size: row.size }));
  }

  async unreferencedBlobs(): Promise<StoredBlob[]> {
    return this.db.all<StoredBlob>(this.sql.unreferencedBlobs);
  }

  async forgetBlobsIfUnreferenced(digests: Digest[]): Promise<ForgottenBlob[]> {
    if (digests.length === 0) return [];
    const rows = await this.db.transaction((tx) => tx.all<{ digest: Digest; inline: number }>(this.sql.forgetBlobsIfUnreferenced, [JSON.stringify(digests)]));
    const forgotten = new Map(rows.map((row) => [row.digest, Number(row.inline) === 1]));
    return digests.filter((digest) => forgotten.has(digest)).map((digest) => ({ digest, inline: forgotten.get(digest)! }));
  }

  async recordTouches(touches: { repository: RepositoryName; digest: Digest; at: number }[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const touch of touches) await tx.run(this.sql.touchLink, [touch.at, touch.repository, touch.digest]);
    }, { relaxed: true });
  }

  async restoreLinks(links: RemovedLink[], at: number): Promise<number> {
    return this.db.transaction(async (tx) => {
      let restored = 0;
      for (const link of links) {
        if (!(await tx.get(this.sql.blobRecorded, [link.digest]))) continue;
        await this.insertLink(tx, await this.ensureRepository(tx, link.repository, at), link.digest, at);
        restored += 1;
      }
      return restored;
    });
  }

  async collectionStatus(touchCutoff: number): Promise<CollectionStatus> {
    const totals = async (statement: string, params: SqlValue[] = []) => (await this.db.get<Totals>(statement, params))!;
    return {
      stored: await totals(this.sql.storedTotals),
      protectedLinks: await totals(this.sql.protectedLinks, [touchCutoff]),
      untaggedManifests: await totals(this.sql.untaggedManifests),
      uploads: await totals(this.sql.uploadTotals),
    };
  }

  async blobRecorded(digest: Digest): Promise<boolean> {
    return (await this.db.get(this.sql.blobRecorded, [digest])) !== undefined;
  }

  async removeEmptyRepositories(): Promise<RepositoryName[]> {
    const rows = await this.db.transaction((tx) => tx.all<{ name: RepositoryName }>(this.sql.removeEmptyRepositories), { relaxed: true });
    return rows.map((row) => row.name);
  }

  async previewCollection(cutoff: number, deleteUntagged: boolean): Promise<CollectionPreview> {
    return this.db.transaction(
      async (tx) => {
        const manifests = deleteUntagged ? await this.removeUntaggedManifestsNow(tx, cutoff) : [];
        const links = await this.removeStaleLinksNow(tx, cutoff);
        return { links, manifests, blobs: await tx.all<StoredBlob>(this.sql.unreferencedBlobs) };
      },
      { rollback: true },
    );
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    // A lease lost in a power cut only lets another collector start: nothing to make durable.
    return (await this.db.transaction((tx) => tx.run(this.sql.acquireLease, [name, holder, now + ttlMs, now, holder]), { relaxed: true })) > 0;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.relaxed(this.sql.releaseLease, [name, holder]);
  }

  async heartbeat(instanceId: string, startedAt: number): Promise<void> {
    await this.relaxed(this.sql.heartbeat, [instanceId, startedAt, this.clock()]);
  }

  async removeInstance(instanceId: string): Promise<void> {
    await this.db.run(this.sql.removeInstance, [instanceId]);
  }

  async liveInstances(since: number): Promise<string[]> {
    return (await this.db.all<{ id: string }>(this.sql.liveInstances, [since])).map((row) => row.id);
  }

  async importFinishedAt(source: string): Promise<number | undefined> {
    return (await this.db.get<{ finished_at: number }>(this.sql.importFinishedAt, [source]))?.finished_at;
  }

  async recordImportFinished(source: string, at: number, summary: string): Promise<void> {
    await this.db.run(this.sql.recordImportFinished, [source, at, summary]);
  }

  private async ensureRepository(tx: SqlExecutor, name: RepositoryName, now: number): Promise<number> {
    const created = (await tx.run(this.sql.insertRepository, [name, now])) > 0;
    const id = (await tx.get<{ id: number }>(this.sql.repositoryId, [name]))!.id;
    if (created) {
      await tx.run(this.sql.insertStats, [id]);
      await this.indexForSearch(tx, id);
    }
    return id;
  }

  /** The repository's search trigrams, from its name and description as they are now. */
  private async indexForSearch(tx: SqlExecutor, repositoryId: number): Promise<void> {
    await tx.run(this.sql.deleteTrigrams, [repositoryId]);
    await tx.run(this.sql.insertTrigrams, [repositoryId, repositoryId]);
  }

  /**
   * The term's trigram held by the fewest repositories, when one is held by fewer than
   * `TRIGRAM_POSTINGS_BOUND` (else scanning every repository costs no more); none for a term
   * shorter than three characters.
   */
  private async rarestTrigram(term: string): Promise<string | undefined> {
    let rarest: { trigram: string; postings: number } | undefined;
    for (const trigram of trigramsOf(term).slice(0, TRIGRAM_PROBES)) {
      const postings = (await this.db.get<{ n: number }>(this.sql.trigramPostings, [trigram, TRIGRAM_POSTINGS_BOUND]))!.n;
      if (postings < (rarest?.postings ?? TRIGRAM_POSTINGS_BOUND)) rarest = { trigram, postings };
      if (postings === 0) break;
    }
    return rarest?.trigram;
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

/** Posting counts stop here: a trigram this common does not narrow a search worth an index walk. */
export const TRIGRAM_POSTINGS_BOUND = 256;
/** A long term's first trigrams are probed, not all of them. */
const TRIGRAM_PROBES = 8;

/** Distinct trigrams of `text` by code point, as the database's `substr` cuts them. */
function trigramsOf(text: string): string[] {
  const characters = Array.from(text);
  const trigrams = new Set<string>();
  for (let start = 0; start + 3 <= characters.length; start++) trigrams.add(characters.slice(start, start + 3).join(''));
  return [...trigrams];
}

function page<T>(rows: T[], limit: number): Page<T> {
  return { items: rows.slice(0, limit), more: rows.length > limit };
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
