import type { Readable } from 'node:stream';
import type { AcceptList } from '../../oci/accept.js';
import { digestAlgorithm, digestOf, parseDigest, type Digest } from '../../oci/digest.js';
import { RegistryError } from '../../oci/errors.js';
import { MAX_MANIFEST_BYTES } from '../../oci/manifest.js';
import { bareMediaType, MediaType } from '../../oci/media-types.js';
import type { RepositoryName, Tag } from '../../oci/names.js';
import { resolveRange, type RangeRequest } from '../../oci/ranges.js';
import type { ManifestReference } from '../../oci/routes.js';
import type { ManifestRecord, Page } from '../../metadata/store.js';
import type { RegistryClient } from '../../upstream/registry-client.js';
import { UpstreamUnavailable } from '../../upstream/unavailable.js';
import type { HostedRepository } from '../hosted-repository.js';
import type { BlobContent, BlobInfo, ManifestContent, MountResult, RepositoryHandle, StoredManifest } from '../repository.js';
import type { CommittedBlob, UploadProgress } from '../uploads.js';
import type { ProxySpace } from './proxy-space.js';
import { readUpTo } from '../text.js';

/** Every manifest type Berth stores: asked for upstream, so the tag's bytes are cached whatever the client accepts. */
const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest].join(', ');

/**
 * One image of a proxy repository: a hosted cache (ordinary content under `<proxy>/<image>`)
 * in front of the upstream. Content-addressed things (blobs, manifests by digest) once cached
 * are served locally; a tag is re-checked with a HEAD at most once per `revalidate` and fetched
 * with GET only when its digest changed; an upstream that fails is hidden while the cache can
 * answer (a tag within `staleiferror`).
 */
export class ProxyRepository implements RepositoryHandle {
  private readonly scope: string;

  constructor(
    readonly name: RepositoryName,
    private readonly space: ProxySpace,
    private readonly cache: HostedRepository,
    /** The image's name at the upstream (`library/alpine` for Docker Hub's `alpine`). */
    private readonly upstreamName: string,
  ) {
    this.scope = `repository:${upstreamName}:pull`;
  }

  private get client(): RegistryClient {
    return this.space.client;
  }

  private denied(action: string): RegistryError {
    return new RegistryError('DENIED', `repository "${this.space.name}" is a pull-through cache of ${this.space.upstreamUrl}: ${action} a hosted repository (or a group with a writablemember) instead`, { name: this.name });
  }

  async localBlob(digest: Digest): Promise<BlobInfo | undefined> {
    await this.space.settled(this.cache.name, digest);
    return this.cache.localBlob(digest);
  }

  async statBlob(digest: Digest): Promise<BlobInfo> {
    const local = await this.localBlob(digest);
    if (local) return local;
    this.space.requireNotKnownAbsent(`blob:${this.upstreamName}@${digest}`, () => blobUnknown(this.name, digest));
    const response = await this.client.request('HEAD', `/v2/${this.upstreamName}/blobs/${digest}`, this.scope);
    if (response.status === 404) throw this.space.rememberAbsent(`blob:${this.upstreamName}@${digest}`, blobUnknown(this.name, digest));
    requireOk(response.status, this.space.upstreamUrl);
    return { digest, size: Number(response.headers.get('content-length') ?? 0) };
  }

  async openBlob(digest: Digest, range: RangeRequest | undefined): Promise<BlobContent> {
    if (await this.cache.localBlob(digest)) return this.cache.openBlob(digest, range);
    const fill = await this.space.fill(digest, this.cache, async () => {
      this.space.requireNotKnownAbsent(`blob:${this.upstreamName}@${digest}`, () => blobUnknown(this.name, digest));
      const response = await this.client.request('GET', `/v2/${this.upstreamName}/blobs/${digest}`, this.scope);
      if (response.status === 404) {
        response.body?.destroy();
        throw this.space.rememberAbsent(`blob:${this.upstreamName}@${digest}`, blobUnknown(this.name, digest));
      }
      const length = response.headers.get('content-length');
      if (response.status !== 200 || !response.body || length === null) {
        response.body?.destroy();
        throw new UpstreamUnavailable(`upstream ${this.space.upstreamUrl} answered ${response.status} for blob ${digest}${length === null ? ' without a length' : ''}`);
      }
      return { size: Number(length), body: response.body };
    });
    const resolved = resolveRange(range, fill.size);
    return { digest, size: fill.size, range: resolved, body: fill.reader(resolved) };
  }

  deleteBlob(digest: Digest): Promise<void> {
    return this.cache.deleteBlob(digest);
  }

  async startUpload(): Promise<UploadProgress> {
    throw this.denied('push to');
  }

  async mountBlob(): Promise<MountResult> {
    throw this.denied('push to');
  }

  async uploadMonolithic(): Promise<CommittedBlob> {
    throw this.denied('push to');
  }

  async uploadStatus(): Promise<UploadProgress> {
    throw this.denied('push to');
  }

  async uploadChunk(): Promise<UploadProgress> {
    throw this.denied('push to');
  }

  async completeUpload(): Promise<CommittedBlob> {
    throw this.denied('push to');
  }

  async cancelUpload(): Promise<void> {
    throw this.denied('push to');
  }

  async putManifest(): Promise<StoredManifest> {
    throw this.denied('push to');
  }

  /** Removes cached content only; the upstream is never changed. */
  async deleteManifest(reference: ManifestReference): Promise<void> {
    if (reference.tag !== undefined) this.space.forgetTag(this.cache.name, reference.tag);
    return this.cache.deleteManifest(reference);
  }

  async statManifest(reference: ManifestReference, accept: AcceptList): Promise<ManifestRecord> {
    return (await this.getManifest(reference, accept)).record;
  }

  async getManifest(reference: ManifestReference, accept: AcceptList): Promise<ManifestContent> {
    if (reference.tag === undefined) {
      const cached = await this.cached(reference, accept);
      if (cached) return cached;
      await this.fetchManifest(reference.digest);
      return this.cache.getManifest(reference, accept);
    }
    const tag = reference.tag as Tag;
    const cached = await this.cached(reference, accept);
    if (cached && this.space.fresh(this.cache.name, tag)) return cached;
    try {
      const current = await this.upstreamDigest(tag);
      if (cached && cached.record.digest === current) {
        this.space.checked(this.cache.name, tag);
        return cached;
      }
      await this.fetchManifest(current, tag);
      this.space.checked(this.cache.name, tag);
    } catch (error) {
      if (cached && error instanceof UpstreamUnavailable && this.space.withinStale(this.cache.name, tag)) return cached;
      // As registry:2's proxy does, a tag the upstream does not have is answered from storage when
      // it was pushed there (images pushed before the proxy was configured keep their tags); a tag
      // the cache filled and the upstream has since dropped is gone.
      if (cached && error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN' && !(await this.space.filledByCache(this.cache.name))) return cached;
      throw error;
    }
    return this.cache.getManifest(reference, accept);
  }

  private async cached(reference: ManifestReference, accept: AcceptList): Promise<ManifestContent | undefined> {
    try {
      return await this.cache.getManifest(reference, accept);
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN') {
        if (reference.tag === undefined) return undefined;
        // A tag cached in a type this client does not accept is still cached: the HEAD decides.
        return undefined;
      }
      throw error;
    }
  }

  /** HEAD: it does not count against Docker Hub's pull limit. */
  private async upstreamDigest(tag: string): Promise<Digest> {
    const key = `manifest:${this.upstreamName}:${tag}`;
    this.space.requireNotKnownAbsent(key, () => manifestUnknown(this.name, tag));
    const response = await this.client.request('HEAD', `/v2/${this.upstreamName}/manifests/${tag}`, this.scope, { Accept: MANIFEST_ACCEPT });
    if (response.status === 404) throw this.space.rememberAbsent(key, manifestUnknown(this.name, tag));
    requireOk(response.status, this.space.upstreamUrl);
    const digest = response.headers.get('docker-content-digest');
    if (!digest) throw new UpstreamUnavailable(`upstream ${this.space.upstreamUrl} answered a manifest HEAD without Docker-Content-Digest`);
    return parseDigest(digest);
  }

  /** GET by digest, so the bytes can be verified; stored byte-exact (children are fetched on demand). */
  private async fetchManifest(digest: Digest, tag?: Tag): Promise<void> {
    const key = `manifest:${this.upstreamName}@${digest}`;
    this.space.requireNotKnownAbsent(key, () => manifestUnknown(this.name, digest));
    const response = await this.client.request('GET', `/v2/${this.upstreamName}/manifests/${digest}`, this.scope, { Accept: MANIFEST_ACCEPT });
    if (response.status === 404) {
      response.body?.destroy();
      throw this.space.rememberAbsent(key, manifestUnknown(this.name, digest));
    }
    if (response.status !== 200 || !response.body) {
      response.body?.destroy();
      requireOk(response.status, this.space.upstreamUrl);
      throw new UpstreamUnavailable(`upstream ${this.space.upstreamUrl} answered ${response.status} without a body`);
    }
    const body = await readBounded(response.body, MAX_MANIFEST_BYTES);
    const actual = digestOf(body, digestAlgorithm(digest));
    if (actual !== digest) throw new UpstreamUnavailable(`upstream ${this.space.upstreamUrl} sent a manifest digesting to ${actual}, not ${digest}`);
    await this.cache.cacheManifest(digest, body, bareMediaType(response.headers.get('content-type') ?? undefined), tag);
  }

  /** The upstream's tags when it answers, the cached ones when it does not. */
  async listTags(limit: number, last?: string): Promise<Page<Tag>> {
    try {
      const query = new URLSearchParams({ n: String(Math.max(limit, 1)) });
      if (last !== undefined) query.set('last', last);
      const response = await this.client.request('GET', `/v2/${this.upstreamName}/tags/list?${query}`, this.scope);
      if (response.status === 404) {
        response.body?.destroy();
        throw new RegistryError('NAME_UNKNOWN', `repository ${this.name} is not known to this registry`, { name: this.name });
      }
      if (response.status !== 200 || !response.body) {
        response.body?.destroy();
        throw new UpstreamUnavailable(`upstream ${this.space.upstreamUrl} answered ${response.status} for the tag list`);
      }
      const parsed = JSON.parse((await readBounded(response.body, 16 * 1024 * 1024)).toString('utf8')) as { tags?: unknown };
      const tags = (Array.isArray(parsed.tags) ? parsed.tags.filter((tag): tag is Tag => typeof tag === 'string') : [])
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        .filter((tag) => last === undefined || tag > last);
      return { items: tags.slice(0, limit), more: tags.length > limit || response.headers.get('link') !== null };
    } catch (error) {
      if (error instanceof UpstreamUnavailable) return this.cache.listTags(limit, last);
      throw error;
    }
  }

  referrers(subject: Digest, artifactType?: string): Promise<ManifestRecord[]> {
    return this.cache.referrers(subject, artifactType);
  }
}

function requireOk(status: number, upstream: string): void {
  if (status === 401 || status === 403) {
    throw new RegistryError('DENIED', `the upstream ${upstream} refused access (${status}): check the proxy's upstream credentials`);
  }
  if (status < 200 || status >= 300) throw new UpstreamUnavailable(`upstream ${upstream} answered ${status}`);
}

function blobUnknown(name: RepositoryName, digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not known in repository ${name}`, { digest });
}

function manifestUnknown(name: RepositoryName, reference: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is not known in repository ${name}`, { name, reference });
}

async function readBounded(stream: Readable, limit: number): Promise<Buffer> {
  const bytes = await readUpTo(stream, limit);
  if (!bytes) throw new UpstreamUnavailable(`upstream sent more than ${limit} bytes where a manifest was expected`);
  return bytes;
}

