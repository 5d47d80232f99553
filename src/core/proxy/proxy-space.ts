import { randomUUID } from 'node:crypto';
import type { ProxySettings } from '../../config/repositories.js';
import type { Digest } from '../../oci/digest.js';
import type { RegistryError } from '../../oci/errors.js';
import type { RepositoryName } from '../../oci/names.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { FollowableUploadStorage } from '../../storage/upload-storage.js';
import { RegistryClient } from '../../upstream/registry-client.js';
import type { HostedRepository } from '../hosted-repository.js';
import type { RepositorySpace } from '../repository-resolver.js';
import type { Clock } from '../time.js';
import { BlobFill, type FillSource } from './blob-fill.js';
import { CacheBudget } from './cache-budget.js';
import type { MetadataStore } from '../../metadata/store.js';
import type { BatchedTimes } from '../batched-times.js';
import { ProxyRepository } from './proxy-repository.js';

/** Expiry looks at least this often (a quarter of `ttl` when shorter, so an image outlives it by at most that). */
const MAX_EXPIRY_INTERVAL_MS = 3_600_000;
/** How long an upstream "not found" is remembered. */
const NEGATIVE_TTL_MS = 30_000;

/**
 * A proxy repository's long-lived state: the upstream client (tokens, circuit breaker,
 * connection cap), the fills in flight, when each tag was last checked, and brief
 * "not found" answers. One per configured proxy, for the server's life.
 */
export class ProxySpace implements RepositorySpace {
  readonly kind = 'proxy';
  readonly client: RegistryClient;
  readonly upstreamHost: string;
  readonly upstreamUrl: string;
  /** Keyed by cached image and digest: a fill answers for the image the upstream confirmed it for. */
  private readonly fills = new Map<string, Promise<BlobFill>>();
  private readonly checkedAt = new Map<string, number>();
  private readonly absent = new Map<string, number>();
  private readonly dockerHub: boolean;
  private readonly budget?: CacheBudget;
  private readonly metadata?: MetadataStore;

  constructor(
    readonly name: string,
    private readonly settings: ProxySettings,
    private readonly storagePrefix: string,
    private readonly hosted: (name: RepositoryName) => HostedRepository,
    private readonly blobs: BlobStore,
    private readonly spool: FollowableUploadStorage,
    private readonly clock: Clock,
    budget?: { metadata: MetadataStore; pulls: BatchedTimes },
  ) {
    this.metadata = budget?.metadata;
    if (budget && (settings.maxSizeBytes !== undefined || settings.expireAfterMs !== undefined)) {
      this.budget = new CacheBudget(budget.metadata, budget.pulls, storagePrefix, { maxBytes: settings.maxSizeBytes, expireAfterMs: settings.expireAfterMs });
    }
    this.client = new RegistryClient(settings.upstream, { now: clock });
    this.upstreamUrl = settings.upstream.url;
    // host:port, as containerd writes `?ns=` for a registry on another port.
    this.upstreamHost = new URL(settings.upstream.url).host;
    this.dockerHub = /(^|\.)docker\.io$/.test(new URL(settings.upstream.url).hostname);
  }

  image(image: RepositoryName, visible: RepositoryName): ProxyRepository {
    // Docker Hub's official images live under library/: `alpine` is `library/alpine` there.
    const upstreamName = this.dockerHub && !image.includes('/') ? `library/${image}` : image;
    return new ProxyRepository(visible, this, this.hosted(`${this.storagePrefix}${image}` as RepositoryName), upstreamName);
  }

  /**
   * Joins the fill in flight for `digest` in this image, or starts one with `fetch` (see
   * blob-fill.ts). Another image's fill of the same digest is not joined: the upstream has not
   * said this image holds it, and each image's blobs are linked only where they were fetched.
   */
  async fill(digest: Digest, cache: HostedRepository, fetch: () => Promise<FillSource>): Promise<BlobFill> {
    const key = `${cache.name}@${digest}`;
    let pending = this.fills.get(key);
    if (!pending) {
      const uploadId = randomUUID();
      // The spool file's directory is made while the upstream is asked, not after it answers (a
      // failure here is the append's to report, with the upstream body in hand to release).
      const prepared = this.spool.prepare(uploadId).catch(() => undefined);
      pending = Promise.all([fetch(), prepared]).then(([{ size, body }]) => new BlobFill(digest, size, uploadId, this.blobs, this.spool, body, async (d, s, adopt) => {
        await cache.cacheBlob(d, s, adopt);
        // The blob is cached either way; an eviction that fails is tried again after the next fill.
        await this.budget?.enforce(cache.name).catch(() => undefined);
      }, this.settings.upstream.timeoutMs));
      this.fills.set(key, pending);
      const forget = () => {
        if (this.fills.get(key) === pending) this.fills.delete(key);
      };
      pending.then((fill) => fill.finished.then(forget, forget), forget);
    }
    return pending;
  }

  /**
   * A fill whose bytes are all verified is only committing: whoever asks the cache about that
   * blob now waits those few milliseconds, so a client that just pulled it finds it cached.
   */
  async settled(cacheName: RepositoryName, digest: Digest): Promise<void> {
    const pending = this.fills.get(`${cacheName}@${digest}`);
    if (!pending) return;
    const fill = await pending.catch(() => undefined);
    if (fill?.committing) await fill.finished.catch(() => undefined);
  }

  /**
   * Resolves once the fills that stopped receiving have committed or cleaned up (shutdown waits
   * for them before closing the stores). One still receiving is not waited for: it may take
   * minutes, and its upload file is purged as abandoned.
   */
  async fillsSettled(): Promise<void> {
    await Promise.all([...this.fills.values()].map((pending) => pending.then((fill) => (fill.receiving ? undefined : fill.finished)).catch(() => undefined)));
  }

  /** `ttl`: how often expiry should look, or undefined when this proxy keeps what it cached. */
  get expiryIntervalMs(): number | undefined {
    const ttl = this.settings.expireAfterMs;
    return ttl === undefined ? undefined : Math.min(Math.max(ttl / 4, 1_000), MAX_EXPIRY_INTERVAL_MS);
  }

  /** Removes cached images unused for `ttl` (see CacheBudget); the names removed. */
  async expire(): Promise<RepositoryName[]> {
    const removed = (await this.budget?.expire(this.clock())) ?? [];
    for (const name of removed) for (const key of this.checkedAt.keys()) if (key.startsWith(`${name}:`)) this.checkedAt.delete(key);
    return removed;
  }

  /** Whether a cache filled this repository (its first manifest came from a proxy), rather than pushes. */
  async filledByCache(cacheName: RepositoryName): Promise<boolean> {
    return this.metadata ? this.metadata.isProxyCache(cacheName) : true;
  }

  /** After a manifest is cached (awaited, so a pull that fills the cache finds it within budget). */
  async cached(cacheName: RepositoryName): Promise<void> {
    await this.budget?.enforce(cacheName);
  }

  fresh(cacheName: RepositoryName, tag: string): boolean {
    const at = this.checkedAt.get(`${cacheName}:${tag}`);
    return at !== undefined && this.clock() - at < this.settings.revalidateMs;
  }

  withinStale(cacheName: RepositoryName, tag: string): boolean {
    // Never checked since this server started: the cached tag is as old as the last check we cannot see.
    const at = this.checkedAt.get(`${cacheName}:${tag}`) ?? this.clock();
    return this.clock() - at <= this.settings.staleIfErrorMs;
  }

  checked(cacheName: RepositoryName, tag: string): void {
    this.checkedAt.set(`${cacheName}:${tag}`, this.clock());
  }

  forgetTag(cacheName: RepositoryName, tag: string): void {
    this.checkedAt.delete(`${cacheName}:${tag}`);
  }

  requireNotKnownAbsent(key: string, error: () => RegistryError): void {
    const until = this.absent.get(key);
    if (until === undefined) return;
    if (until > this.clock()) throw error();
    this.absent.delete(key);
  }

  rememberAbsent(key: string, error: RegistryError): RegistryError {
    this.absent.set(key, this.clock() + NEGATIVE_TTL_MS);
    return error;
  }
}
