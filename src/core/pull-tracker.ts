import type { MetadataStore } from '../metadata/store.js';
import type { Digest } from '../oci/digest.js';
import type { RepositoryName } from '../oci/names.js';

/**
 * Last-pulled times for retention, kept cheap: a pull only sets a map entry; the map is
 * written to the database in one transaction now and then (and on shutdown).
 */
export class PullTracker {
  private pending = new Map<string, { repository: RepositoryName; digest: Digest; at: number }>();

  constructor(private readonly metadata: MetadataStore) {}

  record(repository: RepositoryName, digest: Digest): void {
    const key = `${repository}@${digest}`;
    const entry = this.pending.get(key);
    if (entry) entry.at = Date.now();
    else this.pending.set(key, { repository, digest, at: Date.now() });
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    await this.metadata.recordPulls(batch);
  }
}
