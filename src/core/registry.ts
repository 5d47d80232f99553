import type { RepositoryName } from '../oci/names.js';
import type { MetadataStore, Page } from '../metadata/store.js';
import type { BlobStore } from '../storage/blob-store.js';
import { HostedRepository } from './hosted-repository.js';
import { KeyedMutex } from './keyed-mutex.js';
import { ManifestCache } from './manifest-cache.js';
import type { RegistryPolicy } from './policy.js';
import { PullTracker } from './pull-tracker.js';
import type { PolicyBook } from './repository-policies.js';
import { RetentionRunner } from './retention.js';
import type { RepositoryHandle } from './repository.js';
import { systemClock, type Clock } from './time.js';
import { UploadService } from './uploads.js';

/**
 * The registry as the HTTP layer sees it: repositories by name, and the catalog.
 * Every repository is hosted for now; proxy and group kinds will be chosen here by name.
 */
export class Registry {
  readonly uploads: UploadService;
  /** Per-digest locks: every path that makes a blob reachable, and garbage collection. */
  readonly locks = new KeyedMutex();
  readonly pulls: PullTracker;
  readonly retention: RetentionRunner;
  private readonly manifests = new ManifestCache();

  constructor(
    readonly metadata: MetadataStore,
    readonly blobs: BlobStore,
    readonly policy: RegistryPolicy,
    readonly policies: PolicyBook,
    clock: Clock = systemClock,
  ) {
    this.uploads = new UploadService(metadata, blobs, this.locks, clock);
    this.pulls = new PullTracker(metadata);
    this.retention = new RetentionRunner(metadata, policies, this.pulls, clock);
  }

  repository(name: RepositoryName): RepositoryHandle {
    return new HostedRepository(name, {
      metadata: this.metadata,
      blobs: this.blobs,
      uploads: this.uploads,
      manifests: this.manifests,
      policy: this.policy,
      locks: this.locks,
      pulls: this.pulls,
    }, this.policies.for(name));
  }

  catalog(limit: number, last?: string): Promise<Page<RepositoryName>> {
    return this.metadata.listRepositories(limit, last);
  }
}
