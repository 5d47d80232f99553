import type { Readable } from 'node:stream';
import { requireAcceptable, type AcceptList } from '../oci/accept.js';
import { digestAlgorithm, digestOf, type Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/manifest.js';
import type { RepositoryName, Tag } from '../oci/names.js';
import { resolveRange, type RangeRequest } from '../oci/ranges.js';
import type { ManifestReference } from '../oci/routes.js';
import type { RepositoryPolicy } from '../config/config.js';
import type { ManifestRecord, MetadataStore, Page } from '../metadata/store.js';
import type { BlobStore } from '../storage/blob-store.js';
import { ObjectNotFoundError } from '../storage/driver.js';
import type { LockService } from './locks.js';
import { manifestFacts, type DescriptionSources } from './image-description.js';
import { manifestEntry } from './manifest-entry.js';
import type { ManifestCache } from './manifest-cache.js';
import { requireDeletable, requireWritable, type RegistryPolicy } from './policy.js';
import type { BatchedTimes, EventTimes } from './batched-times.js';
import { quotaDenied, quotaFor, requireDeployable } from './repository-policies.js';
import type { BlobContent, BlobInfo, ManifestContent, MountResult, RepositoryHandle, StoredManifest } from './repository.js';
import type { CommittedBlob, QuotaCheck, UploadProgress, UploadService, WriteOptions } from './uploads.js';
import { BLOB_MEDIA_TYPE, type RequestContext } from './notifications/events.js';
import type { ChangeRecorder } from './notifications/recorder.js';

export interface HostedDependencies {
  metadata: MetadataStore;
  blobs: BlobStore;
  uploads: UploadService;
  manifests: ManifestCache;
  policy: RegistryPolicy;
  /** Per-digest locks shared with garbage collection (see garbage-collector.ts). */
  locks: LockService;
  pulls: BatchedTimes;
  /** Blob existence checks by pushes: they protect the blob from collection for the grace period. */
  touches: EventTimes;
  /** Webhook events and audit entries, written in each change's transaction. */
  recorder: ChangeRecorder;
}

/** A repository whose content lives in this registry. */
export class HostedRepository implements RepositoryHandle {
  constructor(
    readonly name: RepositoryName,
    private readonly deps: HostedDependencies,
    /** The first `policies:` entry matching the name, if any. */
    private readonly rules: RepositoryPolicy | undefined,
    /** Who is asking (events, audit); absent for Berth's own work. */
    private readonly context?: RequestContext,
  ) {}

  private get events() {
    return this.deps.recorder.events;
  }

  /** The journal of a finished blob push (event only: blob pushes are not audited, the manifest is). */
  private blobPushed = (digest: Digest, size: number) =>
    this.events.journal(this.events.event('push', { mediaType: BLOB_MEDIA_TYPE, size, length: size, digest, repository: this.name }, this.context));

  /** Registry-wide read-only, then this repository's deployment policy. */
  private requireWritable(): void {
    requireWritable(this.deps.policy);
    requireDeployable(this.name, this.rules);
  }

  private requireDeletable(): void {
    requireDeletable(this.deps.policy);
    requireDeployable(this.name, this.rules);
  }

  private quota(): QuotaCheck | undefined {
    const limit = quotaFor(this.rules);
    return limit && { limit, denied: (exceeded) => quotaDenied(this.name, this.rules!, exceeded) };
  }

  /**
   * An existence check (HEAD): a push is about to rely on the blob, so it is touched first —
   * before the lookup, so a collection that unlinks it after the lookup sees the touch and
   * restores the link (see garbage-collector.ts).
   */
  async statBlob(digest: Digest): Promise<BlobInfo> {
    await this.deps.touches.record(this.name, digest);
    return this.linkedBlob(digest);
  }

  private async linkedBlob(digest: Digest): Promise<BlobInfo> {
    const blob = await this.localBlob(digest);
    if (!blob) throw blobUnknown(this.name, digest);
    return blob;
  }

  async localBlob(digest: Digest): Promise<BlobInfo | undefined> {
    const size = await this.deps.metadata.linkedBlobSize(this.name, digest);
    return size === undefined ? undefined : { digest, size };
  }

  async openBlob(digest: Digest, rangeRequest: RangeRequest | undefined): Promise<BlobContent> {
    const { size } = await this.linkedBlob(digest);
    const range = resolveRange(rangeRequest, size);
    try {
      return { digest, size, range, body: await this.deps.blobs.open(digest, range, size) };
    } catch (error) {
      if (error instanceof ObjectNotFoundError) throw blobUnknown(this.name, digest);
      throw error;
    }
  }

  async deleteBlob(digest: Digest): Promise<void> {
    this.requireDeletable();
    const journal = this.events.journal(
      this.events.event('delete', { mediaType: BLOB_MEDIA_TYPE, digest, repository: this.name }, this.context),
      this.events.audit('blob.delete', this.context, { repository: this.name, target: digest }),
    );
    if (!(await this.deps.metadata.unlinkBlob(this.name, digest, journal))) throw blobUnknown(this.name, digest);
    this.deps.recorder.committed();
  }

  async startUpload(): Promise<UploadProgress> {
    this.requireWritable();
    return this.deps.uploads.start(this.name);
  }

  async mountBlob(digest: Digest, from: RepositoryHandle | undefined): Promise<MountResult> {
    this.requireWritable();
    if (from !== undefined) {
      const mounted = await this.deps.locks.runShared(digest, async () => {
        const size = (await from.localBlob(digest))?.size;
        if (size === undefined || !(await this.deps.blobs.stat(digest, size))) return undefined;
        const quota = this.quota();
        const journal = this.events.journal(
          this.events.event('mount', { mediaType: BLOB_MEDIA_TYPE, size, length: size, digest, repository: this.name, fromRepository: from.name }, this.context),
        );
        const exceeded = await this.deps.metadata.linkBlob(this.name, digest, size, quota?.limit, journal);
        if (exceeded) throw quota!.denied(exceeded);
        return { digest, size };
      });
      if (mounted) {
        this.deps.recorder.committed();
        return { mounted };
      }
    }
    return { upload: await this.deps.uploads.start(this.name) };
  }

  async uploadMonolithic(digest: Digest, body: Readable, options: WriteOptions): Promise<CommittedBlob> {
    this.requireWritable();
    const blob = await this.deps.uploads.monolithic(this.name, digest, body, options, this.quota(), this.blobPushed);
    this.deps.recorder.committed();
    return blob;
  }

  uploadStatus(id: string): Promise<UploadProgress> {
    return this.deps.uploads.status(this.name, id);
  }

  async uploadChunk(id: string, body: Readable, options: WriteOptions): Promise<UploadProgress> {
    this.requireWritable();
    return this.deps.uploads.append(this.name, id, body, options);
  }

  async completeUpload(id: string, digest: Digest, body: Readable | undefined, options: WriteOptions): Promise<CommittedBlob> {
    this.requireWritable();
    const blob = await this.deps.uploads.complete(this.name, id, digest, body, options, this.quota(), this.blobPushed);
    this.deps.recorder.committed();
    return blob;
  }

  cancelUpload(id: string): Promise<void> {
    return this.deps.uploads.cancel(this.name, id);
  }

  async statManifest(reference: ManifestReference, accept: AcceptList): Promise<ManifestRecord> {
    const record = reference.tag !== undefined
      ? await this.deps.metadata.resolveTag(this.name, reference.tag)
      : await this.deps.metadata.getManifest(this.name, reference.digest);
    if (!record) {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference.tag ?? reference.digest} is not known in repository ${this.name}`, {
        name: this.name,
        reference: reference.tag ?? reference.digest,
      });
    }
    requireAcceptable(record.mediaType, reference, accept);
    return record;
  }

  async getManifest(reference: ManifestReference, accept: AcceptList): Promise<ManifestContent> {
    const record = await this.statManifest(reference, accept);
    let bytes = this.deps.manifests.get(record.digest);
    if (!bytes) {
      try {
        bytes = await this.deps.blobs.readAll(record.digest, record.size);
      } catch (error) {
        // Deleted and collected between the lookup and the read.
        if (error instanceof ObjectNotFoundError) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${record.digest} is not known in repository ${this.name}`);
        throw error;
      }
      this.deps.manifests.set(record.digest, bytes);
    }
    this.deps.pulls.record(this.name, record.digest);
    if (this.deps.recorder.pullEvents) {
      this.deps.recorder.pulled(this.events.event('pull', { mediaType: record.mediaType, size: record.size, length: record.size, digest: record.digest, repository: this.name, tag: reference.tag }, this.context));
    }
    return { record, bytes };
  }

  async putManifest(reference: ManifestReference, body: Buffer, contentType: string | undefined): Promise<StoredManifest> {
    this.requireWritable();
    if (body.length > MAX_MANIFEST_BYTES) {
      throw new RegistryError('MANIFEST_TOO_LARGE', `manifest is ${body.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`);
    }
    const parsed = parseManifest(body, contentType);
    const digest = digestOf(body, reference.digest ? digestAlgorithm(reference.digest) : 'sha256');
    if (reference.digest && reference.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', `manifest body digests to ${digest}, not ${reference.digest}`, { expected: reference.digest, actual: digest });
    }

    const entry = {
      ...manifestEntry(this.name, digest, body.length, parsed, await manifestFacts(parsed, body, this.descriptionSources())),
      tag: reference.tag as Tag | undefined,
      keepExistingTag: this.rules?.deployment === 'disable-redeploy',
      quota: quotaFor(this.rules),
      journal: this.events.journal(
        this.events.event('push', { mediaType: parsed.mediaType, size: body.length, length: body.length, digest, repository: this.name, tag: reference.tag }, this.context),
        this.events.audit('image.push', this.context, { repository: this.name, target: reference.tag ?? digest, detail: JSON.stringify({ digest }) }),
      ),
    };
    // Alone on the digest, bytes before row: garbage collection sees either both or neither. Exclusive,
    // not shared as blob links are: on PostgreSQL, serializable transactions writing one digest's manifest
    // rows into many repositories at once cancel each other faster than retries get through.
    // A refused manifest takes its bytes back, unless other content already had them recorded.
    const { missing, tagConflict, quotaExceeded } = await this.deps.locks.run(digest, async () => {
      const content = await this.deps.blobs.place(digest, body);
      const result = await this.deps.metadata.putManifest({ ...entry, content });
      const refused = result.tagConflict !== undefined || result.quotaExceeded !== undefined || result.missing.blobs.length + result.missing.manifests.length > 0;
      if (refused && !content && !(await this.deps.metadata.blobRecorded(digest))) await this.deps.blobs.delete(digest);
      return result;
    });
    if (tagConflict) {
      throw new RegistryError(
        'DENIED',
        `tag ${reference.tag} in ${this.name} already points at ${tagConflict} and this repository does not allow redeploying a tag (policy "${this.rules!.match}": disable-redeploy); push under a new tag`,
        { tag: reference.tag, current: tagConflict },
      );
    }
    if (quotaExceeded) throw quotaDenied(this.name, this.rules!, quotaExceeded);
    const unknown = [...missing.blobs, ...missing.manifests];
    if (unknown.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references content not in repository ${this.name}: ${unknown.join(', ')}`, {
        blobs: missing.blobs,
        manifests: missing.manifests,
      });
    }
    this.deps.manifests.set(digest, body);
    this.deps.recorder.committed();
    return { digest, subject: parsed.subject?.digest };
  }

  /** Only content linked here is read: a description never comes from another repository's blob. */
  private descriptionSources(): DescriptionSources {
    return {
      openBlob: async (digest) => {
        const size = await this.deps.metadata.linkedBlobSize(this.name, digest);
        if (size === undefined) return undefined;
        return this.deps.blobs.read(digest, undefined, size).catch((error: unknown) => {
          if (error instanceof ObjectNotFoundError) return undefined;
          throw error;
        });
      },
      childDescription: async (digest) => (await this.deps.metadata.getManifest(this.name, digest))?.description,
    };
  }

  /**
   * A pull-through cache's fill: stores upstream manifest bytes (already verified against
   * `digest`) and its tag, before the content it references, under the digest's lock like a push.
   */
  async cacheManifest(digest: Digest, body: Buffer, contentType: string | undefined, tag?: Tag): Promise<ManifestRecord> {
    const parsed = parseManifest(body, contentType);
    const entry = { ...manifestEntry(this.name, digest, body.length, parsed), tag, partial: true };
    await this.deps.locks.run(digest, async () => {
      const content = await this.deps.blobs.place(digest, body);
      await this.deps.metadata.putManifest({ ...entry, content });
    });
    this.deps.manifests.set(digest, body);
    return { ...entry.manifest, createdAt: 0 } as ManifestRecord;
  }

  /**
   * A pull-through cache's fill: links a blob whose bytes `adopt` makes present (or returns, for
   * its row: see BlobStore.placeUpload), under the digest's lock.
   */
  async cacheBlob(digest: Digest, size: number, adopt: () => Promise<Buffer | undefined>): Promise<void> {
    await this.deps.locks.runShared(digest, async () => {
      const content = await adopt();
      await this.deps.metadata.linkBlob(this.name, digest, size, undefined, undefined, content);
    });
  }

  async deleteManifest(reference: ManifestReference): Promise<void> {
    this.requireDeletable();
    const deleted = reference.tag !== undefined
      ? await this.deps.metadata.deleteTag(this.name, reference.tag, this.events.journal(
        this.events.event('delete', { repository: this.name, tag: reference.tag }, this.context),
        this.events.audit('tag.delete', this.context, { repository: this.name, target: reference.tag }),
      ))
      : await this.deps.metadata.deleteManifest(this.name, reference.digest, this.events.journal(
        this.events.event('delete', { repository: this.name, digest: reference.digest }, this.context),
        this.events.audit('manifest.delete', this.context, { repository: this.name, target: reference.digest }),
      ));
    this.deps.recorder.committed();
    if (!deleted) {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference.tag ?? reference.digest} is not known in repository ${this.name}`);
    }
  }

  async listTags(limit: number, last?: string): Promise<Page<Tag>> {
    if (!(await this.deps.metadata.repositoryExists(this.name))) {
      throw new RegistryError('NAME_UNKNOWN', `repository ${this.name} is not known to this registry`, { name: this.name });
    }
    return this.deps.metadata.listTags(this.name, limit, last);
  }

  async referrers(subject: Digest, artifactType?: string): Promise<ManifestRecord[]> {
    const referrers = await this.deps.metadata.listReferrers(this.name, subject);
    return artifactType === undefined ? referrers : referrers.filter((record) => record.artifactType === artifactType);
  }
}

function blobUnknown(name: RepositoryName, digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not known in repository ${name}`, { digest });
}
