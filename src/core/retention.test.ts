import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TagDetail } from '../metadata/store.js';
import type { Digest } from '../oci/digest.js';
import type { Tag } from '../oci/names.js';
import { selectExpiredTags } from './retention.js';

const DAY = 86_400_000;
const now = 100 * DAY;
const tag = (name: string, pushedDaysAgo: number, pulledDaysAgo?: number): TagDetail => ({
  tag: name as Tag,
  digest: `sha256:${'a'.repeat(64)}` as Digest,
  updatedAt: now - pushedDaysAgo * DAY,
  ...(pulledDaysAgo !== undefined ? { lastPulledAt: now - pulledDaysAgo * DAY } : {}),
});
const names = (selected: { tag: TagDetail }[]) => selected.map((entry) => entry.tag.tag).sort();

describe('retention rules', () => {
  const tags = [tag('a', 1), tag('b', 10, 1), tag('c', 20), tag('d', 40, 35), tag('latest', 50)];

  it('when only keep is set, then everything beyond the newest N goes', () => {
    assert.deepEqual(names(selectExpiredTags(tags, { keep: 2 }, now)), ['c', 'd', 'latest']);
  });

  it('when olderthan is set, then tags pushed before it go', () => {
    assert.deepEqual(names(selectExpiredTags(tags, { olderThanMs: 15 * DAY }, now)), ['c', 'd', 'latest']);
  });

  it('when notpulledfor is set, then a recent pull saves an old tag and a never-pulled tag counts from its push', () => {
    assert.deepEqual(names(selectExpiredTags(tags, { notPulledForMs: 5 * DAY }, now)), ['c', 'd', 'latest']);
    assert.deepEqual(names(selectExpiredTags(tags, { notPulledForMs: 30 * DAY }, now)), ['d', 'latest']);
  });

  it('when criteria are combined, then a tag must meet all of them', () => {
    assert.deepEqual(names(selectExpiredTags(tags, { keep: 1, olderThanMs: 15 * DAY, notPulledForMs: 30 * DAY }, now)), ['d', 'latest']);
  });

  it('when include and exclude are set, then only matching tags are candidates and keep counts among them', () => {
    assert.deepEqual(names(selectExpiredTags(tags, { keep: 1, include: /^[a-d]$/, exclude: /^b$/ }, now)), ['c', 'd']);
  });
});
