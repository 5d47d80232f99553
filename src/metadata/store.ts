import type { Digest } from '../oci/digest.js';
import type { RepositoryName, Tag } from '../oci/names.js';

/**
 * What exists: repositories, blob links, manifests and their references, tags, upload
 * sessions. Narrow interfaces, each implemented by one SQL store with a dialect per
 * database (SQLite embedded now, PostgreSQL for scale-out later). Every method is one short
 * transaction; none is held open across a stream.
 */
export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  subject?: Digest;
  /** The image's `org.opencontainers.image.description` (annotation or config label), for search. */
  description?: string;
  /** `os/architecture[/variant]` of an image, or of an index's children. */
  platforms?: string[];
  createdAt: number;
}

/**
 * A storage quota checked inside the transaction that adds content. Usage counts each
 * distinct blob (manifests included) once per scope: once per repository, or once across all
 * repositories matching `pattern` when the quota covers a namespace.
 */
export interface QuotaLimit {
  limitBytes: number;
  pattern?: string;
}

export interface QuotaExceeded {
  usage: number;
  limit: number;
  needed: number;
}

export interface NewManifest {
  repository: RepositoryName;
  manifest: Omit<ManifestRecord, 'createdAt'>;
  blobReferences: Digest[];
  manifestReferences: Digest[];
  tag?: Tag;
  /** Refuse to move an existing tag to another manifest (disable-redeploy). */
  keepExistingTag?: boolean;
  quota?: QuotaLimit;
  /** Written in the manifest's transaction, only if it is stored. */
  journal?: ChangeJournal;
  /** The manifest's bytes when they are small enough to live in its blob row (see `BlobIndex.inlineBlob`). */
  content?: Buffer;
  /**
   * Stored by a pull-through cache: before the content it references (fetched on demand), and
   * marking the repository as a cache's (see `proxyCacheRepositories`).
   */
  partial?: boolean;
}

/**
 * Rows that describe a change, written in the same transaction as the change itself (only
 * when the change happens): the webhook outbox (`core/notifications/outbox.ts`) and the audit
 * trail. The store does not know what they mean; core builds them.
 */
export interface ChangeJournal {
  outbox: OutboxRow[];
  audit: AuditRow[];
}

export interface OutboxRow {
  repository: string;
  action: string;
  mediaType: string;
  createdAt: number;
  /** One event, serialised as it is delivered. */
  payload: string;
}

export interface StoredOutboxEvent extends OutboxRow {
  seq: number;
}

export interface WebhookEndpointState {
  name: string;
  /** Every event up to this sequence number has been delivered (or skipped by its filters). */
  deliveredSeq: number;
  /** Events after `deliveredSeq`. */
  pending: number;
  failures: number;
  nextAttemptAt: number;
  lastError?: string;
  lastErrorAt?: number;
  lastSuccessAt?: number;
}

/** The webhook outbox: events in commit order, and how far each endpoint has delivered. */
export interface OutboxIndex {
  /** Appends events that belong to no transaction of their own (pulls, flushed in batches). */
  appendOutbox(rows: OutboxRow[]): Promise<void>;
  /** Endpoints not known yet start after the newest event: a new endpoint is not sent history. */
  registerEndpoints(names: string[]): Promise<void>;
  /** The oldest events the endpoint has not delivered, in order. */
  pendingEvents(endpoint: string, limit: number): Promise<StoredOutboxEvent[]>;
  recordDelivery(endpoint: string, throughSeq: number, at: number, succeeded: boolean): Promise<void>;
  recordFailure(endpoint: string, error: string, at: number, nextAttemptAt: number): Promise<void>;
  endpointStates(names: string[]): Promise<WebhookEndpointState[]>;
  /** Deletes events every one of `endpoints` has delivered; returns how many. */
  pruneOutbox(endpoints: string[]): Promise<number>;
}

export interface AuditRow {
  at: number;
  /** A user name, `anonymous`, or `system` for Berth's own runs. */
  actor: string;
  action: string;
  repository?: string;
  /** A tag, digest, user or role name: what the action was done to. */
  target?: string;
  /** The client's address. */
  address?: string;
  /** JSON with what else matters (counts removed, the request id); never a secret. */
  detail?: string;
}

export interface StoredAuditRow extends AuditRow {
  id: number;
}

export interface AuditQuery {
  actor?: string;
  repository?: string;
  action?: string;
  since?: number;
  until?: number;
  /** Entries with an id above this (paging), oldest first. */
  after?: number;
  limit: number;
}

/** The audit trail: appended, queried, and dropped past its retention; never changed. */
export interface AuditIndex {
  appendAudit(rows: AuditRow[]): Promise<void>;
  queryAudit(query: AuditQuery): Promise<StoredAuditRow[]>;
  pruneAudit(before: number): Promise<number>;
}

/** A web UI session as stored: the cookie only by its hash, the principal as JSON. */
export interface WebSessionRow {
  idHash: string;
  /** The logged-in user's name (ends with their password change); null for anonymous operators. */
  userName: string | null;
  principal: string;
  operator: boolean;
  csrf: string;
  mustChangePassword: boolean;
  createdAt: number;
  lastUsedAt: number;
}

/** Web UI sessions, shared by every process on the database (see `http/ui/sessions.ts`). */
export interface WebSessionIndex {
  insertWebSession(row: WebSessionRow): Promise<void>;
  webSession(idHash: string): Promise<WebSessionRow | undefined>;
  touchWebSession(idHash: string, at: number): Promise<void>;
  deleteWebSession(idHash: string): Promise<void>;
  deleteWebSessionsOf(userName: string): Promise<void>;
  /** Drops sessions idle since before `idleBefore` or created before `createdBefore`. */
  deleteExpiredWebSessions(idleBefore: number, createdBefore: number): Promise<number>;
}

/**
 * A repository policy administered in the web UI (`core/policy-admin.ts`), kept in the database
 * so every replica and every restart applies it; it comes before the configuration's `policies:`.
 */
export interface PolicyRuleRow {
  /** The repository name pattern it applies to. */
  pattern: string;
  /** The policy as JSON (`core/policy-admin.ts` owns its shape). */
  rule: string;
  updatedAt: number;
  updatedBy: string;
}

export interface PolicyIndex {
  listPolicyRules(): Promise<PolicyRuleRow[]>;
  /** Creates or replaces the rule for its pattern; `audit` is written in the same transaction. */
  putPolicyRule(row: PolicyRuleRow, audit?: AuditRow): Promise<void>;
  /** Whether there was a rule to remove; `audit` is written only when there was. */
  removePolicyRule(pattern: string, audit?: AuditRow): Promise<boolean>;
}

/** What a manifest PUT found missing; empty when it was stored. */
export interface MissingReferences {
  blobs: Digest[];
  manifests: Digest[];
}

/** The outcome of a manifest PUT: stored unless something is missing, a tag is protected, or the quota is full. */
export interface ManifestPutResult {
  missing: MissingReferences;
  tagConflict?: Digest;
  quotaExceeded?: QuotaExceeded;
}

export interface RepositoryUsage {
  repository: RepositoryName;
  bytes: number;
  blobs: number;
  manifests: number;
  tags: number;
}

export interface TagDetail {
  tag: Tag;
  digest: Digest;
  updatedAt: number;
  /** Of the manifest the tag points at; undefined if never pulled. */
  lastPulledAt?: number;
}

export interface Page<T> {
  items: T[];
  /** More items follow the last one returned. */
  more: boolean;
}

export interface UploadSession {
  id: string;
  repository: RepositoryName;
  /** Bytes durably stored and acknowledged. */
  offset: number;
  createdAt: number;
  updatedAt: number;
  /**
   * The digest's saved state after `offset` bytes (see `core/resumable-digest.ts`), so any
   * replica can resume hashing without re-reading the upload; absent when not saved.
   */
  hashState?: Uint8Array;
  /** What the upload storage needs to resume (see `storage/upload-storage.ts`); opaque here. */
  storageState?: string;
}

/** What a chunk left behind, recorded when it is acknowledged. */
export interface UploadProgress {
  offset: number;
  updatedAt: number;
  hashState?: Uint8Array;
  storageState?: string;
}

export interface RepositoryIndex {
  /** Repositories holding at least one manifest, in byte order, after `last`. */
  listRepositories(limit: number, last?: string): Promise<Page<RepositoryName>>;
  /** A repository exists (in `_catalog` and for `tags/list`) while it holds a manifest or a blob link. */
  repositoryExists(repository: RepositoryName): Promise<boolean>;
  /**
   * Removes the repository with its tags, manifests, links and upload sessions in one
   * transaction; what only it used is freed by the next collection. Returns the removed
   * sessions' ids (their data files are the caller's to delete).
   */
  deleteRepository(repository: RepositoryName, journal?: ChangeJournal): Promise<{ deleted: boolean; uploads: string[] }>;
}

export interface BlobIndex {
  /** The blob's size if it is linked into the repository. */
  linkedBlobSize(repository: RepositoryName, digest: Digest): Promise<number | undefined>;
  /**
   * Records the blob (if new) and links it into the repository, unless the quota would be exceeded.
   * `content`: the bytes of a small blob, kept in its row instead of storage (see `inlineBlob`).
   */
  linkBlob(repository: RepositoryName, digest: Digest, size: number, quota?: QuotaLimit, journal?: ChangeJournal, content?: Buffer): Promise<QuotaExceeded | undefined>;
  /** Records and links several blobs in one transaction, with no quota (imports of existing content). */
  linkBlobs(repository: RepositoryName, blobs: { digest: Digest; size: number; content?: Buffer }[]): Promise<void>;
  /**
   * The bytes of a blob recorded with its content in its row; undefined when it is not recorded
   * or its bytes are in storage. A blob recorded already keeps where its bytes are.
   */
  inlineBlob(digest: Digest): Promise<Buffer | undefined>;
  /** Returns false if it was not linked. */
  unlinkBlob(repository: RepositoryName, digest: Digest, journal?: ChangeJournal): Promise<boolean>;
}

export interface ManifestIndex {
  getManifest(repository: RepositoryName, digest: Digest): Promise<ManifestRecord | undefined>;
  resolveTag(repository: RepositoryName, tag: Tag): Promise<ManifestRecord | undefined>;
  /** Inserts the manifest with its references and tag in one transaction, or nothing (see ManifestPutResult). */
  putManifest(entry: NewManifest): Promise<ManifestPutResult>;
  /** Removes a manifest and every tag pointing at it; false if it was not there. */
  deleteManifest(repository: RepositoryName, digest: Digest, journal?: ChangeJournal): Promise<boolean>;
  deleteTag(repository: RepositoryName, tag: Tag, journal?: ChangeJournal): Promise<boolean>;
  listTags(repository: RepositoryName, limit: number, last?: string): Promise<Page<Tag>>;
  /** Manifests in the repository whose `subject` is `digest`. */
  listReferrers(repository: RepositoryName, digest: Digest): Promise<ManifestRecord[]>;
}

export interface UploadIndex {
  createUpload(session: UploadSession): Promise<void>;
  getUpload(id: string): Promise<UploadSession | undefined>;
  recordUploadProgress(id: string, progress: UploadProgress): Promise<void>;
  deleteUpload(id: string): Promise<void>;
  /** Ends the session and links the finished blob, in one transaction, unless the quota would be exceeded. */
  completeUpload(id: string, repository: RepositoryName, digest: Digest, size: number, quota?: QuotaLimit, journal?: ChangeJournal, content?: Buffer): Promise<QuotaExceeded | undefined>;
  listUploadsUpdatedBefore(cutoff: number): Promise<UploadSession[]>;
}

export interface StoredBlob {
  digest: Digest;
  size: number;
}

export interface ForgottenBlob {
  digest: Digest;
  /** Its bytes were in its row, gone with it: no object in storage to delete. */
  inline: boolean;
}

export interface RemovedLink {
  repository: RepositoryName;
  digest: Digest;
}

export interface RemovedManifest {
  repository: RepositoryName;
  digest: Digest;
  size: number;
}

/** A count of objects and their bytes. */
export interface Totals {
  count: number;
  bytes: number;
}

/** What a collection leaves in place, and why (see the garbage collector's report). */
export interface CollectionStatus {
  /** Every stored object (layers, configs, manifests). */
  stored: Totals;
  /** Unreferenced links kept because a push touched them after their last reference, within the grace period. */
  protectedLinks: Totals;
  /** Manifests no tag points at (kept unless untagged manifests are deleted). */
  untaggedManifests: Totals;
  /** Upload sessions in progress, with the bytes they hold so far. */
  uploads: Totals;
}

export interface CollectionPreview {
  links: RemovedLink[];
  manifests: RemovedManifest[];
  blobs: StoredBlob[];
}

/** What garbage collection asks of the database. See `core/garbage-collector.ts` for the protocol. */
export interface GcIndex {
  /**
   * Deletes links that no manifest in their repository references, except those touched after
   * a manifest referencing them was last stored and no earlier than `touchCutoff`.
   */
  removeStaleLinks(touchCutoff: number): Promise<RemovedLink[]>;
  /** Writes batched touches (blob HEADs) to their links, keeping the newest time. */
  recordTouches(touches: { repository: RepositoryName; digest: Digest; at: number }[]): Promise<void>;
  /** Links again what a collection unlinked while a push was touching it; returns how many were restored. */
  restoreLinks(links: RemovedLink[], at: number): Promise<number>;
  collectionStatus(touchCutoff: number): Promise<CollectionStatus>;
  /**
   * Deletes manifests that are neither tagged, nor created after `cutoff`, nor reachable from
   * such a manifest through an index or as a referrer of a kept manifest.
   */
  removeUntaggedManifests(cutoff: number): Promise<RemovedManifest[]>;
  /** Blobs that no repository links and no manifest row names. */
  unreferencedBlobs(): Promise<StoredBlob[]>;
  /**
   * Re-checks and forgets blob rows in one transaction; returns those that were still
   * unreferenced and are now gone, and whether their bytes went with the row (`inline`) or are
   * in storage for the caller to delete.
   */
  forgetBlobsIfUnreferenced(digests: Digest[]): Promise<ForgottenBlob[]>;
  blobRecorded(digest: Digest): Promise<boolean>;
  /** Repositories left with no manifest and no link. */
  removeEmptyRepositories(): Promise<RepositoryName[]>;
  /** The metadata phases run in a transaction that is rolled back: exactly what a run would remove. */
  previewCollection(cutoff: number, deleteUntagged: boolean): Promise<CollectionPreview>;
  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, holder: string): Promise<void>;
  heartbeat(instanceId: string, startedAt: number): Promise<void>;
  removeInstance(instanceId: string): Promise<void>;
  /** Instances whose heartbeat is newer than `since`. */
  liveInstances(since: number): Promise<string[]>;
}

/** Usage reporting, retention and last-pulled times. */
export interface LifecycleIndex {
  usage(repository: RepositoryName, quota: QuotaLimit): Promise<number>;
  listUsage(): Promise<RepositoryUsage[]>;
  /** Repositories that have at least one tag. */
  listTaggedRepositories(): Promise<RepositoryName[]>;
  listTagDetails(repository: RepositoryName): Promise<TagDetail[]>;
  /**
   * Removes the tags, then the manifests they pointed at that are left with no tag and are not
   * referenced by another manifest in the repository. Returns the manifests removed.
   */
  removeTags(repository: RepositoryName, tags: Tag[]): Promise<Digest[]>;
  /** Repositories whose first manifest a pull-through cache stored (so none holds pushed images), by name. */
  proxyCacheRepositories(): Promise<RepositoryName[]>;
  /** Whether this repository is one of `proxyCacheRepositories` (false for one that does not exist). */
  isProxyCache(repository: RepositoryName): Promise<boolean>;
  /** Batched from memory; keeps the newest time per manifest. */
  recordPulls(pulls: { repository: RepositoryName; digest: Digest; at: number }[]): Promise<void>;
}

/** A repository a search matched, best matches first. */
export interface RepositoryMatch {
  name: RepositoryName;
  description?: string;
}

/** Search over repository names and descriptions, answered by the database (never a scan in JS). */
export interface SearchIndex {
  /**
   * Listed repositories whose name contains `term` or whose description contains it (case-insensitive):
   * the exact name first, then names starting with it, names containing it, descriptions containing it;
   * by name within each. An empty term matches every listed repository.
   */
  searchRepositories(term: string): Promise<RepositoryMatch[]>;
}

/** A listed repository with what a browser sorts by. */
export interface RepositorySummary {
  name: RepositoryName;
  description?: string;
  tags: number;
  manifests: number;
  /** Distinct blobs and manifests it holds, each once. */
  bytes: number;
  /** The newest manifest stored or tag moved; undefined for a repository with neither (blobs only). */
  pushedAt?: number;
  /** The newest pull of any of its manifests. */
  pulledAt?: number;
}

/** A tag with what a browser shows of the manifest it points at. */
export interface TagSummary {
  tag: Tag;
  digest: Digest;
  mediaType: string;
  /** The manifest, the blobs it references and the manifests it lists (not their blobs). */
  bytes: number;
  platforms: string[];
  updatedAt: number;
  lastPulledAt?: number;
}

export type RepositorySort = 'name' | 'pushed' | 'size' | 'pulled';
export type SortOrder = 'asc' | 'desc';

/** What the admin API and the UI browse. */
export interface BrowseIndex {
  /**
   * Every listed repository (holding a manifest) whose name or description contains `filter`
   * (lower case; every one when empty), in `sort` order (repositories never pushed or pulled
   * count as 0), ties by name in byte order. Names only: the caller filters them for visibility
   * and asks `repositorySummaries` for the page it shows.
   */
  orderedRepositories(options: { sort: RepositorySort; order: SortOrder; filter: string }): Promise<RepositoryName[]>;
  /** Summaries of those of `names` that are listed, in the order given. */
  repositorySummaries(names: RepositoryName[]): Promise<RepositorySummary[]>;
  tagSummaries(repository: RepositoryName): Promise<TagSummary[]>;
  /** Sizes of stored objects among `digests` (for a manifest page's layers). */
  blobSizes(digests: Digest[]): Promise<Map<Digest, number>>;
}

/** Imports of another registry's data (registry:2's tree), so a server starts one only once. */
export interface ImportIndex {
  /** When the import from `source` last finished, if it ever did. */
  importFinishedAt(source: string): Promise<number | undefined>;
  /** `summary`: what the run did, as JSON, for whoever wonders later. */
  recordImportFinished(source: string, at: number, summary: string): Promise<void>;
}

export interface MetadataStore extends RepositoryIndex, BlobIndex, ManifestIndex, UploadIndex, GcIndex, LifecycleIndex, ImportIndex, OutboxIndex, AuditIndex, PolicyIndex, SearchIndex, BrowseIndex {
  readonly description: string;
  /** A cheap query that proves the database answers (health checks). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
