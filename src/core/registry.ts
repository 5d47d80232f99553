import type { RepositoryName } from '../oci/names.js';
import type { MetadataStore, Page } from '../metadata/store.js';
import type { FollowableUploadStorage, UploadStorage } from '../storage/upload-storage.js';
import type { LockService } from './locks.js';
import type { SessionDigests } from './resumable-digest.js';
import type { BlobStore } from '../storage/blob-store.js';
import { HostedRepository } from './hosted-repository.js';
import { ManifestCache } from './manifest-cache.js';
import { RegistryError } from '../oci/errors.js';
import { requireDeletable, type RegistryPolicy } from './policy.js';
import { requireDeployable } from './repository-policies.js';
import { BatchedTimes, WrittenTimes, type EventTimes } from './batched-times.js';
import type { PolicyBook } from './repository-policies.js';
import { RetentionRunner } from './retention.js';
import type { RepositoryHandle } from './repository.js';
import { RepositoryResolver, type RepositorySpace, type Resolved, type SpaceFactory } from './repository-resolver.js';
import { filteredPage, withGroupNames } from './catalog.js';
import { ProxySpace } from './proxy/proxy-space.js';
import type { RepositoriesConfig } from '../config/repositories.js';
import { systemClock, type Clock } from './time.js';
import { UploadService } from './uploads.js';
import type { RequestContext } from './notifications/events.js';
import { auditOnlyRecorder, type ChangeRecorder } from './notifications/recorder.js';

/** Where the registry keeps things, chosen by the composition root (`app-stores.ts`). */
export interface RegistryBackends {
  metadata: MetadataStore;
  blobs: BlobStore;
  /** Upload sessions' bytes until they are committed. */
  uploads: UploadStorage;
  /** Proxy cache fills, followed by readers as they arrive (a local file). */
  spool: FollowableUploadStorage;
  locks: LockService;
  digests: SessionDigests;
  /** Other replicas share the metadata: what a collection must see goes to the database at once. */
  replicated: boolean;
}

/**
 * The registry as the HTTP layer sees it: repositories by name, and the catalog. A name is
 * resolved to its repository's kind by `RepositoryResolver`; the repositories live as long as
 * the registry does.
 */
export class Registry {
  readonly uploads: UploadService;
  /** Per-digest locks: every path that makes a blob reachable, and garbage collection. */
  readonly locks: LockService;
  /** Last-pulled times (retention), written in batches. */
  readonly pulls: BatchedTimes;
  /** Blob HEADs by pushes (garbage-collection grace): in batches, or each at once where replicas share the database. */
  readonly touches: EventTimes;
  readonly retention: RetentionRunner;
  private readonly manifests = new ManifestCache();
  private readonly resolver: RepositoryResolver;

  readonly metadata: MetadataStore;
  readonly blobs: BlobStore;

  constructor(
    backends: RegistryBackends,
    readonly policy: RegistryPolicy,
    readonly policies: PolicyBook,
    clock: Clock = systemClock,
    /** Webhook events and audit entries; by default audit entries only. */
    readonly recorder: ChangeRecorder = auditOnlyRecorder('', clock),
    repositories: RepositoriesConfig = { items: [] },
  ) {
    const { metadata, blobs } = backends;
    this.metadata = metadata;
    this.blobs = blobs;
    this.locks = backends.locks;
    this.uploads = new UploadService(metadata, blobs, backends.uploads, this.locks, backends.digests, clock, backends.replicated ? 'any-replica' : 'this-process');
    this.pulls = new BatchedTimes((batch) => metadata.recordPulls(batch), clock);
    this.touches = backends.replicated ? new WrittenTimes((batch) => metadata.recordTouches(batch), clock) : new BatchedTimes((batch) => metadata.recordTouches(batch), clock);
    this.retention = new RetentionRunner(metadata, policies, this.pulls, clock);
    const factory: SpaceFactory = {
      hosted: (prefix) => (image, context) => this.hosted(`${prefix}${image}` as RepositoryName, context),
      proxy: (name, settings, prefix) => new ProxySpace(name, settings, prefix, (image) => this.hosted(image), blobs, backends.spool, clock, { metadata, pulls: this.pulls }),
    };
    this.resolver = new RepositoryResolver(repositories, factory);
  }

  /**
   * The repository a `/v2/<name>/…` request addresses; `namespace` is containerd's `?ns=`;
   * `context`: who is asking, for the events and audit entries of changes (absent: Berth itself).
   */
  resolve(name: RepositoryName, namespace?: string, context?: RequestContext): Resolved {
    return this.resolver.resolve(name, namespace, context);
  }

  /** Proxies whose cached images expire after their `ttl`, for the maintenance schedule. */
  expiringProxies(): RepositorySpace[] {
    return this.resolver.expiringProxies();
  }

  /** At shutdown, after the listeners closed: proxy fills still committing finish before the stores close. */
  fillsSettled(): Promise<void> {
    return this.resolver.fillsSettled();
  }

  repository(name: RepositoryName, context?: RequestContext): RepositoryHandle {
    return this.resolver.resolve(name, undefined, context).handle;
  }

  /** Content stored under exactly this name in the registry's one hosted space. */
  hosted(name: RepositoryName, context?: RequestContext): HostedRepository {
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
    await this.uploads.forget(name, uploads);
    if (!deleted && uploads.length === 0) {
      throw new RegistryError('NAME_UNKNOWN', `repository ${name} is not known to this registry`, { name });
    }
    return { repository: name, uploadsCancelled: uploads.length };
  }

  /**
   * Repositories holding at least one manifest, by the names they are stored under (and, with
   * groups, the names groups show them under); `allow` keeps those one caller may see (paging
   * through the full list, so `n` and `last` keep their meaning). With `root` (a repository's
   * own listener), the names inside that repository, without its prefix.
   */
  catalog(limit: number, last?: string, allow?: (names: string[]) => Promise<string[]>, root?: string): Promise<Page<RepositoryName>> {
    const groups = this.resolver.groups();
    const all = groups.length === 0 && root === undefined
      ? (size: number, cursor?: string) => this.metadata.listRepositories(size, cursor)
      : (size: number, cursor?: string) => this.namesWithGroups(groups, size, cursor);
    const prefix = root === undefined ? '' : `${root}/`;
    const inside = async (size: number, cursor?: string): Promise<Page<RepositoryName>> => {
      if (root === undefined) return all(size, cursor);
      const page = await all(Number.MAX_SAFE_INTEGER, cursor === undefined ? undefined : `${prefix}${cursor}`);
      const names = page.items.filter((name) => name.startsWith(prefix)).map((name) => name.slice(prefix.length) as RepositoryName);
      return { items: names.slice(0, size), more: names.length > size };
    };
    if (!allow) return inside(limit, last);
    // Access is decided on the full names.
    const allowInside = async (names: string[]) => (await allow(names.map((name) => `${prefix}${name}`))).map((name) => name.slice(prefix.length));
    return filteredPage(inside, allowInside, limit, last);
  }

  /** With groups the catalog also shows each member image under the group's name; the list is built whole. */
  private async namesWithGroups(groups: ReturnType<RepositoryResolver['groups']>, limit: number, last?: string): Promise<Page<RepositoryName>> {
    const stored: string[] = [];
    for (let cursor: string | undefined; ;) {
      const page = await this.metadata.listRepositories(10_000, cursor);
      stored.push(...page.items);
      if (!page.more || page.items.length === 0) break;
      cursor = page.items.at(-1);
    }
    const names = withGroupNames(stored, groups).filter((name) => last === undefined || name > last) as RepositoryName[];
    return { items: names.slice(0, limit), more: names.length > limit };
  }
}
