import type { RepositoryName } from '../../oci/names.js';
import type { MetadataStore } from '../../metadata/store.js';
import type { BatchedTimes } from '../batched-times.js';

/**
 * A proxy's `maxsize`: when its cached content (counted like any quota: each distinct blob and
 * manifest once) exceeds the budget, whole cached images (repositories under the proxy's
 * prefix) are removed, least recently pulled first, until it fits. The image being filled is
 * never evicted for itself. Removal is the same as `repository rm`: rows go at once (usage
 * drops), bytes are freed by the next garbage collection. One enforcement runs at a time.
 */
export class CacheBudget {
  private running?: Promise<void>;

  constructor(
    private readonly metadata: MetadataStore,
    private readonly pulls: BatchedTimes,
    /** `hub/` for a proxy named hub; empty for registry:2's mirror, whose cache is everything. */
    private readonly prefix: string,
    private readonly maxBytes: number,
  ) {}

  /** Evicts until the budget holds; `keep` is the image just filled. */
  async enforce(keep: RepositoryName): Promise<void> {
    while (this.running) await this.running;
    this.running = this.evict(keep).finally(() => (this.running = undefined));
    return this.running;
  }

  private usage(keep: RepositoryName): Promise<number> {
    return this.metadata.usage(keep, { limitBytes: this.maxBytes, pattern: `${this.prefix}*` });
  }

  private async evict(keep: RepositoryName): Promise<void> {
    if ((await this.usage(keep)) <= this.maxBytes) return;
    await this.pulls.flush();
    const cached = (await this.metadata.listUsage()).filter((entry) => entry.repository.startsWith(this.prefix) && entry.repository !== keep);
    const byLastPull = await Promise.all(cached.map(async ({ repository }) => {
      const tags = await this.metadata.listTagDetails(repository);
      return { repository, last: Math.max(0, ...tags.map((tag) => tag.lastPulledAt ?? tag.updatedAt)) };
    }));
    byLastPull.sort((a, b) => a.last - b.last);
    for (const { repository } of byLastPull) {
      if ((await this.usage(keep)) <= this.maxBytes) return;
      await this.metadata.deleteRepository(repository);
    }
  }
}
