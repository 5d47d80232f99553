import type { Readable } from 'node:stream';
import { parseDigest, type Digest } from '../oci/digest.js';
import type { RepositoryName, Tag } from '../oci/names.js';
import type { StorageDriver, StoredObject } from './driver.js';
import { registry2Layout } from './registry2-layout.js';

/**
 * Reads a registry:2 tree (see `registry2-layout.ts`) found in Berth's storage root: what it
 * would serve, repository by repository, and its blob bytes. Never writes to it.
 */
export interface Registry2Repository {
  name: RepositoryName;
  /** Tags that have a current link, and the manifest each names. */
  tags: Map<Tag, Digest>;
  /** Manifests with a revision link, in digest order. */
  revisions: Digest[];
  /** Blobs with a layer link, in digest order. */
  layers: Digest[];
}

export interface Registry2Problem {
  item: string;
  reason: string;
}

export interface Registry2Inventory {
  repositories: Registry2Repository[];
  /** Link files that cannot be imported, and why. */
  problems: Registry2Problem[];
}

/** A link file holds one digest as text; anything longer is not a link. */
const MAX_LINK_BYTES = 1024;

export class Registry2Tree {
  constructor(private readonly driver: StorageDriver) {}

  /** Is there a registry:2 repositories tree with at least one file in it? */
  async present(): Promise<boolean> {
    for await (const _key of this.driver.list(registry2Layout.repositoriesPrefix())) return true;
    return false;
  }

  /** Every repository's current tags, revision links and layer links. */
  async scan(): Promise<Registry2Inventory> {
    const repositories = new Map<RepositoryName, { tags: Map<Tag, Digest>; revisions: Set<Digest>; layers: Set<Digest> }>();
    const problems: Registry2Problem[] = [];
    for await (const { key } of this.driver.list(registry2Layout.repositoriesPrefix())) {
      const entry = registry2Layout.entry(key);
      if (!entry) continue;
      if (entry.kind === 'invalid') {
        problems.push({ item: key, reason: entry.reason });
        continue;
      }
      let repository = repositories.get(entry.repository);
      if (!repository) repositories.set(entry.repository, (repository = { tags: new Map(), revisions: new Set(), layers: new Set() }));
      const target = await this.readLink(key);
      if (target === undefined) {
        problems.push({ item: key, reason: 'the link file does not hold a digest' });
      } else if (entry.kind === 'tag') {
        repository.tags.set(entry.tag, target);
      } else if (target !== entry.digest) {
        problems.push({ item: key, reason: `the link file names ${target}, not its own digest` });
      } else {
        (entry.kind === 'layer' ? repository.layers : repository.revisions).add(target);
      }
    }
    return {
      repositories: [...repositories.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, found]) => ({ name, tags: found.tags, revisions: [...found.revisions].sort(), layers: [...found.layers].sort() })),
      problems,
    };
  }

  /** The key of a blob's bytes, for `BlobStore.adopt`. */
  blobKey(digest: Digest): string {
    return registry2Layout.blobData(digest);
  }

  statBlob(digest: Digest): Promise<StoredObject | undefined> {
    return this.driver.stat(registry2Layout.blobData(digest));
  }

  readBlob(digest: Digest): Promise<Readable> {
    return this.driver.read(registry2Layout.blobData(digest));
  }

  private async readLink(key: string): Promise<Digest | undefined> {
    const stat = await this.driver.stat(key);
    if (!stat || stat.size > MAX_LINK_BYTES) return undefined;
    let text = '';
    for await (const chunk of await this.driver.read(key)) text += (chunk as Buffer).toString('utf8');
    try {
      return parseDigest(text.trim());
    } catch {
      return undefined;
    }
  }
}
