import type { RepositoryName } from '../oci/names.js';
import type { MetadataStore, Page } from '../metadata/store.js';
import type { BlobStore } from '../storage/blob-store.js';
import { HostedRepository } from './hosted-repository.js';
import { KeyedMutex } from './keyed-mutex.js';
import { ManifestCache } from './manifest-cache.js';
import { RegistryError } from '../oci/errors.js';
import { requireDeletable, type RegistryPolicy } from './policy.js';
import { requireDeployable } from './repository-policies.js';
import { BatchedTimes } from './batched-times.js';
import type { PolicyBook } from './repository-policies.js';
import { RetentionRunner } from './retention.js';
import type { RepositoryHandle } from './repository.js';
import { systemClock, type Clock } from './time.js';
import { UploadService } from './uploads.js';
import type { RequestContext } from './notifications/events.js';
import { auditOnlyRecorder, type ChangeRecorder } from './notifications/recorder.js';

/**
 * The registry as the HTTP layer sees it: repositories by name, and the catalog.
 * Every repository is hosted for now; proxy and group kinds will be chosen here by name.
 */
export class Registry {
  readonly uploads: UploadService;
  /** Per-digest locks: every path that makes a blob reachable, and garbage collection. */
  readonly locks = new KeyedMutex();
  /** Last-pulled times (retention), written in batches. */
  readonly pulls: BatchedTimes;
  /** Blob HEADs by pushes (garbage-collection grace), written in batches. */
  readonly touches: BatchedTimes;
  readonly retention: RetentionRunner;
  private readonly manifests = new ManifestCache();

  constructor(
    readonly metadata: MetadataStore,
    readonly blobs: BlobStore,
    readonly policy: RegistryPolicy,
    readonly policies: PolicyBook,
    clock: Clock = systemClock,
    /** Webhook events and audit entries; by default audit entries only. */
    readonly recorder: ChangeRecorder = auditOnlyRecorder('', clock),
  ) {
    this.uploads = new UploadService(metadata, blobs, this.locks, clock);
    this.pulls = new BatchedTimes((batch) => metadata.recordPulls(batch), clock);
    this.touches = new BatchedTimes((batch) => metadata.recordTouches(batch), clock);
    this.retention = new RetentionRunner(metadata, policies, this.pulls, clock);
  }

  /** `context`: who is asking, for the events and audit entries of changes (absent: Berth itself). */
  repository(name: RepositoryName, context?: RequestContext): RepositoryHandle {
    return new HostedRepository(name, {
      metadata: this.metadata,
      blobs: this.blobs,
      uploads: this.uploads,
      manifests: this.manifests,
      policy: this.policy,
      locks: this.locks,
      pulls: this.pulls,
      touches: this.touches,
      recorder: this.recorder,
    }, this.policies.for(name), context);
  }

  /**
   * Removes a whole repository (tags, manifests, links, upload sessions) at once, as deletes
   * are allowed for it; the next garbage collection frees what only it used.
   */
  async deleteRepository(name: RepositoryName, context?: RequestContext): Promise<{ repository: RepositoryName; uploadsCancelled: number }> {
    requireDeletable(this.policy);
    requireDeployable(name, this.policies.for(name));
    const { events } = this.recorder;
    const { deleted, uploads } = await this.metadata.deleteRepository(name, events.journal(
      events.event('delete', { repository: name }, context),
      events.audit('repository.delete', context, { repository: name }),
    ));
    this.recorder.committed();
    await this.uploads.forget(uploads);
    if (!deleted && uploads.length === 0) {
      throw new RegistryError('NAME_UNKNOWN', `repository ${name} is not known to this registry`, { name });
    }
    return { repository: name, uploadsCancelled: uploads.length };
  }

  catalog(limit: number, last?: string): Promise<Page<RepositoryName>> {
    return this.metadata.listRepositories(limit, last);
  }
}
