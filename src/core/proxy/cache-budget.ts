import type { RepositoryName } from '../../oci/names.js';
import type { MetadataStore } from '../../metadata/store.js';
import type { BatchedTimes } from '../batched-times.js';

/**
 * A proxy's limits on what it keeps, both applied to whole cached images and both removing them
 * as `repository rm` does: rows go at once (usage drops), bytes are freed by the next garbage
 * collection.
 * - `maxsize`: when cached content under the proxy's prefix (counted like any quota: each
 *   distinct blob and manifest once) exceeds the budget, images are removed least recently
 *   pulled first until it fits; the image being filled is never evicted for itself.
 * - `ttl`: an image the cache filled (the database marks a repository when a cache stores its
 *   first manifest) that was neither pulled nor fetched for that long is removed. Images pushed under the
 *   same names were never filled by it and are never expired: registry:2's mirror shares bare
 *   names with whatever was pushed before it was configured. registry:2 expires what it
 *   fetched that long ago, pulled or not; an image in use is kept here.
 * One removal pass runs at a time.
 */
export class CacheBudget {
  private running?: Promise<unknown>;

  constructor(
    private readonly metadata: MetadataStore,
    private readonly pulls: BatchedTimes,
    /** `hub/` for a proxy named hub; empty for registry:2's mirror, whose cache is everything. */
    private readonly prefix: string,
    private readonly limits: { maxBytes?: number; expireAfterMs?: number },
  ) {}

  /** Evicts until the budget holds; `keep` is the image just filled. */
  async enforce(keep: RepositoryName): Promise<void> {
    const { maxBytes } = this.limits;
    if (maxBytes === undefined) return;
    await this.exclusively(() => this.evict(keep, maxBytes));
  }

  /** Removes the images last used before `now - ttl`; the names removed. */
  async expire(now: number): Promise<RepositoryName[]> {
    const { expireAfterMs } = this.limits;
    if (expireAfterMs === undefined) return [];
    return this.exclusively(() => this.removeUnusedSince(now - expireAfterMs));
  }

  private async exclusively<T>(pass: () => Promise<T>): Promise<T> {
    while (this.running) await this.running.catch(() => undefined);
    const running = pass();
    this.running = running;
    try {
      return await running;
    } finally {
      this.running = undefined;
    }
  }

  private async imagesUnderPrefix(except: RepositoryName): Promise<RepositoryName[]> {
    await this.pulls.flush();
    return (await this.metadata.listUsage())
      .map((entry) => entry.repository)
      .filter((repository) => repository.startsWith(this.prefix) && repository !== except);
  }

  private async filledImages(): Promise<RepositoryName[]> {
    await this.pulls.flush();
    return (await this.metadata.proxyCacheRepositories()).filter((repository) => repository.startsWith(this.prefix));
  }

  private usage(keep: RepositoryName, maxBytes: number): Promise<number> {
    return this.metadata.usage(keep, { limitBytes: maxBytes, pattern: `${this.prefix}*` });
  }

  private async evict(keep: RepositoryName, maxBytes: number): Promise<void> {
    if ((await this.usage(keep, maxBytes)) <= maxBytes) return;
    const byLastPull = await Promise.all((await this.imagesUnderPrefix(keep)).map(async (repository) => {
      const tags = await this.metadata.listTagDetails(repository);
      return { repository, last: Math.max(0, ...tags.map((tag) => tag.lastPulledAt ?? tag.updatedAt)) };
    }));
    byLastPull.sort((a, b) => a.last - b.last);
    for (const { repository } of byLastPull) {
      if ((await this.usage(keep, maxBytes)) <= maxBytes) return;
      await this.metadata.deleteRepository(repository);
    }
  }

  private async removeUnusedSince(cutoff: number): Promise<RepositoryName[]> {
    const removed: RepositoryName[] = [];
    const images = await this.filledImages();
    for (let start = 0; start < images.length; start += SUMMARY_BATCH) {
      for (const summary of await this.metadata.repositorySummaries(images.slice(start, start + SUMMARY_BATCH))) {
        // Fetched (stored) or pulled, whichever is later; an image with no manifest has no age to go by.
        const lastUsed = Math.max(summary.pushedAt ?? 0, summary.pulledAt ?? 0);
        if (lastUsed === 0 || lastUsed >= cutoff) continue;
        await this.metadata.deleteRepository(summary.name);
        removed.push(summary.name);
      }
    }
    return removed;
  }
}

/** Repositories summarised per query while expiring. */
const SUMMARY_BATCH = 500;
