import type { RetentionRule } from '../config/config.js';
import type { MetadataStore, TagDetail } from '../metadata/store.js';
import type { Digest } from '../oci/digest.js';
import type { RepositoryName, Tag } from '../oci/names.js';
import type { PolicyBook } from './repository-policies.js';
import type { BatchedTimes } from './batched-times.js';
import { systemClock, type Clock } from './time.js';

/**
 * Retention (cleanup policies). Among a repository's candidate tags (matching `include`,
 * not matching `exclude`), newest push first, a tag is removed when it is
 *   beyond the newest `keep`        (if keep is set)
 *   and pushed before `olderthan`   (if set)
 *   and not pulled for `notpulledfor` (if set; a never-pulled tag counts from its push).
 * Manifests left with no tag and not referenced by an index go with their last tag; the
 * bytes are reclaimed by the next garbage collection.
 */
export interface RetentionDecision {
  repository: RepositoryName;
  tag: Tag;
  digest: Digest;
  reason: string;
}

export interface RetentionReport {
  dryRun: boolean;
  tags: RetentionDecision[];
  manifests: { repository: RepositoryName; digest: Digest }[];
}

export function selectExpiredTags(tags: TagDetail[], rule: RetentionRule, now: number): { tag: TagDetail; reason: string }[] {
  const candidates = tags
    .filter((tag) => (rule.include === undefined || rule.include.test(tag.tag)) && !(rule.exclude?.test(tag.tag) ?? false))
    .sort((a, b) => b.updatedAt - a.updatedAt || (a.tag < b.tag ? -1 : 1));
  const expired: { tag: TagDetail; reason: string }[] = [];
  candidates.forEach((tag, index) => {
    const reasons: string[] = [];
    if (rule.keep !== undefined) {
      if (index < rule.keep) return;
      reasons.push(`not among the newest ${rule.keep}`);
    }
    if (rule.olderThanMs !== undefined) {
      if (tag.updatedAt >= now - rule.olderThanMs) return;
      reasons.push(`pushed ${days(now - tag.updatedAt)} ago`);
    }
    if (rule.notPulledForMs !== undefined) {
      const lastUse = tag.lastPulledAt ?? tag.updatedAt;
      if (lastUse >= now - rule.notPulledForMs) return;
      reasons.push(tag.lastPulledAt === undefined ? 'never pulled' : `last pulled ${days(now - lastUse)} ago`);
    }
    expired.push({ tag, reason: reasons.join(', ') });
  });
  return expired;
}

export class RetentionRunner {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly policies: PolicyBook,
    private readonly pulls?: BatchedTimes,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Told about every run that removed (not previewed) tags (audit trail). */
  readonly listeners: ((report: RetentionReport) => void)[] = [];

  /** What a run would remove from one repository now (the web UI's preview); nothing changes. */
  async preview(repository: RepositoryName, now = this.clock()): Promise<RetentionDecision[]> {
    const rule = this.policies.for(repository)?.retention;
    if (!rule) return [];
    await this.pulls?.flush();
    return selectExpiredTags(await this.metadata.listTagDetails(repository), rule, now).map(({ tag, reason }) => ({ repository, tag: tag.tag, digest: tag.digest, reason }));
  }

  async run(dryRun: boolean, now = this.clock()): Promise<RetentionReport> {
    await this.pulls?.flush();
    const report: RetentionReport = { dryRun, tags: [], manifests: [] };
    for (const repository of await this.metadata.listTaggedRepositories()) {
      const rule = this.policies.for(repository)?.retention;
      if (!rule) continue;
      const expired = selectExpiredTags(await this.metadata.listTagDetails(repository), rule, now);
      if (expired.length === 0) continue;
      report.tags.push(...expired.map(({ tag, reason }) => ({ repository, tag: tag.tag, digest: tag.digest, reason })));
      if (dryRun) continue;
      const removed = await this.metadata.removeTags(repository, expired.map(({ tag }) => tag.tag));
      report.manifests.push(...removed.map((digest) => ({ repository, digest })));
    }
    if (!dryRun) for (const listener of this.listeners) listener(report);
    return report;
  }
}

function days(ms: number): string {
  const value = ms / 86_400_000;
  return value >= 1 ? `${Math.floor(value)}d` : `${Math.floor(ms / 3_600_000)}h`;
}
