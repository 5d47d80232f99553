import type { Readable } from 'node:stream';
import type { ManifestRecord, MetadataStore } from '../metadata/store.js';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { parseManifest, type Descriptor } from '../oci/manifest.js';
import type { RepositoryName } from '../oci/names.js';
import type { ManifestReference } from '../oci/routes.js';
import type { BlobStore } from '../storage/blob-store.js';
import { ObjectNotFoundError } from '../storage/driver.js';
import { platformOf } from './image-description.js';
import { readUpTo } from './text.js';

/** What a manifest's page shows: its layers, config, children, referrers and annotations. */
export interface ImageDetails {
  repository: RepositoryName;
  digest: Digest;
  mediaType: string;
  size: number;
  kind: 'image' | 'index';
  annotations: Record<string, string>;
  layers: Descriptor[];
  config?: { descriptor: Descriptor; platform?: string; env: string[]; entrypoint: string[]; cmd: string[]; workingDir?: string; user?: string; labels: Record<string, string>; history: { created?: string; createdBy?: string; emptyLayer: boolean }[]; created?: string };
  children: (Descriptor & { platform?: string })[];
  referrers: ManifestRecord[];
  tags: string[];
}

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * Reads a stored manifest (and an image's config) for people to look at. It is not a pull:
 * nothing is recorded as pulled, and only content linked into the repository is read.
 */
export class ImageInspector {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
  ) {}

  async inspect(repository: RepositoryName, reference: ManifestReference): Promise<ImageDetails> {
    const record = reference.tag !== undefined ? await this.metadata.resolveTag(repository, reference.tag) : await this.metadata.getManifest(repository, reference.digest);
    if (!record) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference.tag ?? reference.digest} is not known in repository ${repository}`);
    const bytes = await this.read(record.digest, MAX_CONFIG_BYTES);
    if (!bytes) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${record.digest} is not stored`);
    const parsed = parseManifest(bytes, record.mediaType);
    const document = JSON.parse(bytes.toString('utf8')) as { manifests?: { platform?: Platform }[] };
    const tags = (await this.metadata.listTagDetails(repository)).filter((tag) => tag.digest === record.digest).map((tag) => tag.tag as string);
    const details: ImageDetails = {
      repository,
      digest: record.digest,
      mediaType: record.mediaType,
      size: record.size,
      kind: parsed.kind === 'image' ? 'image' : 'index',
      annotations: parsed.annotations ?? {},
      layers: [],
      children: [],
      referrers: await this.metadata.listReferrers(repository, record.digest),
      tags,
    };
    if (parsed.kind === 'image') {
      const [config, ...layers] = parsed.blobs;
      details.layers = layers;
      if (config) details.config = await this.config(repository, config);
    } else {
      details.children = parsed.manifests.map((child, index) => {
        const platform = platformOf(document.manifests?.[index]?.platform);
        return platform ? { ...child, platform } : child;
      });
    }
    return details;
  }

  private async config(repository: RepositoryName, descriptor: Descriptor): Promise<ImageDetails['config']> {
    const empty = { descriptor, env: [], entrypoint: [], cmd: [], labels: {}, history: [] };
    if ((await this.metadata.linkedBlobSize(repository, descriptor.digest)) === undefined) return empty;
    const bytes = await this.read(descriptor.digest, MAX_CONFIG_BYTES);
    if (!bytes) return empty;
    let config: ImageConfig;
    try {
      config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
    } catch {
      return empty; // an artifact's config need not be JSON
    }
    const strings = (value: unknown) => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);
    const labels = Object.fromEntries(Object.entries(config.config?.Labels ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    return {
      descriptor,
      platform: platformOf(config),
      env: strings(config.config?.Env),
      entrypoint: strings(config.config?.Entrypoint),
      cmd: strings(config.config?.Cmd),
      ...(typeof config.config?.WorkingDir === 'string' && config.config.WorkingDir ? { workingDir: config.config.WorkingDir } : {}),
      ...(typeof config.config?.User === 'string' && config.config.User ? { user: config.config.User } : {}),
      labels,
      history: (Array.isArray(config.history) ? config.history : []).map((entry) => ({
        ...(typeof entry.created === 'string' ? { created: entry.created } : {}),
        ...(typeof entry.created_by === 'string' ? { createdBy: entry.created_by } : {}),
        emptyLayer: entry.empty_layer === true,
      })),
      ...(typeof config.created === 'string' ? { created: config.created } : {}),
    };
  }

  private async read(digest: Digest, limit: number): Promise<Buffer | undefined> {
    let stream: Readable;
    try {
      stream = await this.blobs.read(digest);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return undefined;
      throw error;
    }
    return readUpTo(stream, limit);
  }
}

interface Platform {
  os?: unknown;
  architecture?: unknown;
  variant?: unknown;
}

interface ImageConfig extends Platform {
  created?: unknown;
  config?: { Env?: unknown; Entrypoint?: unknown; Cmd?: unknown; Labels?: Record<string, unknown> | null; WorkingDir?: unknown; User?: unknown };
  history?: { created?: unknown; created_by?: unknown; empty_layer?: unknown }[];
}
