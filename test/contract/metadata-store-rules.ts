import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditRow, ChangeJournal, MetadataStore, OutboxRow } from '../../src/metadata/store.js';
import type { Digest } from '../../src/oci/digest.js';
import type { RepositoryName, Tag } from '../../src/oci/names.js';
import { TRIGRAM_POSTINGS_BOUND } from '../../src/metadata/sql/sql-store.js';
import { recordingCalls } from './metadata-store-coverage.js';

/** The suite every MetadataStore passes, unchanged: SQLite and PostgreSQL. */
export interface StoreFactory {
  name: string;
  /**
   * `clock` stamps what the store records (links, touches, references). `reopen` opens another
   * store on the same database (a restart, or a second replica).
   */
  create(clock: () => number): Promise<{ store: MetadataStore; reopen(): Promise<MetadataStore>; dispose(): Promise<void> }>;
}

const repo = (name: string) => name as RepositoryName;
const tag = (name: string) => name as Tag;
const blob = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}` as Digest;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const event = (action: string): OutboxRow => ({ repository: 'r', action, mediaType: MANIFEST, createdAt: 1, payload: `{"action":"${action}"}` });
const journalOf = (action: string): ChangeJournal => ({ outbox: [event(action)], audit: [] });

/**
 * The rules each store keeps whatever its database: the outbox and audit trail, quotas,
 * disable-redeploy, the untagged-manifest walk and its preview, leases, lifecycle, search and
 * browsing. Each test has a database of its own.
 */
export function metadataStoreRules(factory: StoreFactory): void {
  describe(`MetadataStore rules: ${factory.name}`, () => {
    let now = 1_000_000;
    const clock = () => now;
    /** A store on a fresh database, closed and removed after `body`. */
    const withStore = async (body: (store: MetadataStore, reopen: () => Promise<MetadataStore>) => Promise<void>) => {
      const { store, reopen, dispose } = await factory.create(clock);
      try {
        await body(recordingCalls(store), async () => recordingCalls(await reopen()));
      } finally {
        await store.close();
        await dispose();
      }
    };
    /** Stores a manifest (and its blob rows), tagged when `tagName` is given. */
    const push = async (store: MetadataStore, name: string, digest: Digest, options: { tag?: string; size?: number; blobs?: Digest[]; manifests?: Digest[]; subject?: Digest; description?: string } = {}) => {
      for (const layer of options.blobs ?? []) await store.linkBlob(repo(name), layer, 100);
      const result = await store.putManifest({
        repository: repo(name),
        manifest: { digest, mediaType: MANIFEST, size: options.size ?? 10, ...(options.subject && { subject: options.subject }), ...(options.description && { description: options.description }) },
        blobReferences: options.blobs ?? [],
        manifestReferences: options.manifests ?? [],
        ...(options.tag !== undefined && { tag: tag(options.tag) }),
      });
      assert.deepEqual(result, { missing: { blobs: [], manifests: [] } });
    };

    it('when events are journalled, then a new endpoint starts after them and delivery, failure and pruning are tracked in order', () =>
      withStore(async (store) => {
        await store.ping();
        assert.ok(store.description.length > 0);
        await store.appendOutbox([event('old-1'), event('old-2')]);
        await store.registerEndpoints(['hook']);
        assert.deepEqual(await store.pendingEvents('hook', 10), [], 'a new endpoint is not sent history');
        assert.equal(await store.unlinkBlob(repo('r'), blob(1), journalOf('unchanged')), false);
        await store.linkBlob(repo('r'), blob(1), 5, undefined, journalOf('linked'));
        assert.equal(await store.unlinkBlob(repo('r'), blob(1), journalOf('unlinked')), true);
        const pending = await store.pendingEvents('hook', 10);
        assert.deepEqual(pending.map((row) => row.action), ['linked', 'unlinked'], 'only changes that happened are journalled');
        assert.ok(pending[0]!.seq < pending[1]!.seq);
        assert.deepEqual(pending[0], { ...event('linked'), seq: pending[0]!.seq });

        await store.recordFailure('hook', 'connection refused', 50, 60);
        let [state] = await store.endpointStates(['hook', 'unknown']);
        assert.deepEqual(state, { name: 'hook', deliveredSeq: pending[0]!.seq - 1, pending: 2, failures: 1, nextAttemptAt: 60, lastError: 'connection refused', lastErrorAt: 50 });
        await store.recordDelivery('hook', pending[0]!.seq, 70, true);
        await store.recordDelivery('hook', pending[0]!.seq - 1, 80, false);
        [state] = await store.endpointStates(['hook']);
        assert.deepEqual(state, { name: 'hook', deliveredSeq: pending[0]!.seq, pending: 1, failures: 0, nextAttemptAt: 0, lastError: 'connection refused', lastErrorAt: 50, lastSuccessAt: 70 });

        assert.equal(await store.pruneOutbox(['hook', 'never-registered']), 0, 'an endpoint with no state keeps everything');
        assert.equal(await store.pruneOutbox(['hook']), 3);
        assert.deepEqual((await store.pendingEvents('hook', 10)).map((row) => row.action), ['unlinked']);
        await store.appendOutbox([event('later')]);
        const later = await store.pendingEvents('hook', 1);
        assert.deepEqual(later.map((row) => row.action), ['unlinked'], 'limit');
        assert.equal(await store.pruneOutbox([]), 2, 'with no endpoints, everything goes');
        await store.registerEndpoints(['second']);
        await store.appendOutbox([event('newest')]);
        const [newest] = await store.pendingEvents('second', 10);
        assert.ok(newest!.seq > pending[1]!.seq + 1, 'sequence numbers are never reused after a prune');
      }));

    it('when audit entries are appended, then they are queried by actor, repository, action and time, paged by id, and pruned by age', () =>
      withStore(async (store) => {
        const rows: AuditRow[] = [
          { at: 10, actor: 'alice', action: 'push', repository: 'a', target: 'v1', address: '10.0.0.1', detail: '{"n":1}' },
          { at: 20, actor: 'bob', action: 'delete', repository: 'a', target: 'v1' },
          { at: 30, actor: 'alice', action: 'login' },
        ];
        await store.appendAudit(rows);
        await store.deleteTag(repo('none'), tag('v'), { outbox: [], audit: [{ at: 40, actor: 'carol', action: 'delete-tag' }] });
        const all = await store.queryAudit({ limit: 10 });
        assert.deepEqual(all.map(({ id: _, ...row }) => row), rows, 'optional fields absent when not given; an unchanged delete is not audited');
        assert.deepEqual((await store.queryAudit({ actor: 'alice', limit: 10 })).map((row) => row.at), [10, 30]);
        assert.deepEqual((await store.queryAudit({ repository: 'a', action: 'delete', limit: 10 })).map((row) => row.at), [20]);
        assert.deepEqual((await store.queryAudit({ since: 20, until: 30, limit: 10 })).map((row) => row.at), [20]);
        const first = await store.queryAudit({ limit: 1 });
        assert.deepEqual((await store.queryAudit({ after: first[0]!.id, limit: 1 })).map((row) => row.at), [20]);
        assert.equal(await store.pruneAudit(25), 2);
        assert.deepEqual((await store.queryAudit({ limit: 10 })).map((row) => row.at), [30]);
      }));

    it('when policy rules are put, replaced and removed, then the list follows, and each change\'s audit entry commits with it', () =>
      withStore(async (store) => {
        const audit = (action: string): AuditRow => ({ at: 1, actor: 'alice', action, repository: 'team/app' });
        await store.putPolicyRule({ pattern: 'team/app', rule: '{"deployment":"read-only"}', updatedAt: 1, updatedBy: 'alice' }, audit('policy.put'));
        await store.putPolicyRule({ pattern: 'a/*', rule: '{}', updatedAt: 2, updatedBy: 'bob' });
        await store.putPolicyRule({ pattern: 'team/app', rule: '{"deployment":"allow-redeploy"}', updatedAt: 3, updatedBy: 'carol' });
        assert.deepEqual(await store.listPolicyRules(), [
          { pattern: 'a/*', rule: '{}', updatedAt: 2, updatedBy: 'bob' },
          { pattern: 'team/app', rule: '{"deployment":"allow-redeploy"}', updatedAt: 3, updatedBy: 'carol' },
        ]);
        assert.equal(await store.removePolicyRule('team/app', audit('policy.remove')), true);
        assert.equal(await store.removePolicyRule('team/app', audit('policy.remove')), false);
        assert.deepEqual((await store.listPolicyRules()).map((row) => row.pattern), ['a/*']);
        assert.deepEqual((await store.queryAudit({ limit: 10 })).map((row) => row.action), ['policy.put', 'policy.remove'], 'no entry for a removal that removed nothing');
      }));

    it('when content would exceed a quota, then nothing is linked, stored or completed; content already counted is free', () =>
      withStore(async (store) => {
        const quota = { limitBytes: 150 };
        assert.equal(await store.linkBlob(repo('q'), blob(1), 100, quota), undefined);
        assert.deepEqual(await store.linkBlob(repo('q'), blob(2), 60, quota), { usage: 100, limit: 150, needed: 60 });
        assert.equal(await store.linkedBlobSize(repo('q'), blob(2)), undefined);
        assert.equal(await store.linkBlob(repo('q'), blob(1), 100, quota), undefined, 'relinking adds nothing');
        assert.equal(await store.usage(repo('q'), quota), 100);

        const put = await store.putManifest({ repository: repo('q'), manifest: { digest: blob(3), mediaType: MANIFEST, size: 60 }, blobReferences: [blob(1)], manifestReferences: [], tag: tag('v1'), quota });
        assert.deepEqual(put.quotaExceeded, { usage: 100, limit: 150, needed: 60 });
        assert.equal(await store.resolveTag(repo('q'), tag('v1')), undefined);

        await store.createUpload({ id: 'u', repository: repo('q'), offset: 0, createdAt: now, updatedAt: now });
        assert.deepEqual(await store.completeUpload('u', repo('q'), blob(4), 51, quota), { usage: 100, limit: 150, needed: 51 });
        assert.equal((await store.getUpload('u'))?.id, 'u', 'the session stays for a retry');
        await store.deleteUpload('u');
        assert.equal(await store.getUpload('u'), undefined);
      }));

    it('when a quota covers a pattern, then every matching repository counts, each blob once, and _ in a pattern is no wildcard', () =>
      withStore(async (store) => {
        const quota = { limitBytes: 250, pattern: 'team_a/*' };
        await store.linkBlob(repo('team_a/one'), blob(1), 100, quota);
        await store.linkBlob(repo('team_a/two'), blob(1), 100, quota);
        await store.linkBlob(repo('team_a/two'), blob(2), 100, quota);
        await store.linkBlob(repo('teamxa/other'), blob(3), 1000);
        assert.equal(await store.usage(repo('team_a/one'), quota), 200);
        assert.deepEqual(await store.linkBlob(repo('team_a/three'), blob(4), 100, quota), { usage: 200, limit: 250, needed: 100 });
        assert.equal(await store.usage(repo('teamxa/other'), { limitBytes: 1 }), 1000);
      }));

    it('when a protected tag would move, then the push is refused with the current digest; the same digest is accepted', () =>
      withStore(async (store) => {
        await push(store, 'p', blob(10), { tag: 'v1' });
        const moved = await store.putManifest({ repository: repo('p'), manifest: { digest: blob(11), mediaType: MANIFEST, size: 5 }, blobReferences: [], manifestReferences: [], tag: tag('v1'), keepExistingTag: true });
        assert.deepEqual(moved, { missing: { blobs: [], manifests: [] }, tagConflict: blob(10) });
        assert.equal(await store.getManifest(repo('p'), blob(11)), undefined);
        const same = await store.putManifest({ repository: repo('p'), manifest: { digest: blob(10), mediaType: MANIFEST, size: 10 }, blobReferences: [], manifestReferences: [], tag: tag('v1'), keepExistingTag: true });
        assert.equal(same.tagConflict, undefined);
        const partial = await store.putManifest({ repository: repo('p'), manifest: { digest: blob(12), mediaType: MANIFEST, size: 5 }, blobReferences: [blob(13)], manifestReferences: [], partial: true });
        assert.deepEqual(partial, { missing: { blobs: [blob(13)], manifests: [] } });
        assert.equal((await store.getManifest(repo('p'), blob(12)))?.digest, blob(12), 'a pull-through cache stores before the content');
      }));

    it('when untagged manifests are collected, then kept ones keep what they reach (index children, referrers, transitively); the preview removes nothing', () =>
      withStore(async (store) => {
        await push(store, 'g', blob(20)); // child of a tagged index
        await push(store, 'g', blob(21), { tag: 'index', manifests: [blob(20)] });
        await push(store, 'g', blob(22), { tag: 'image' });
        await push(store, 'g', blob(23), { subject: blob(22) }); // signature of a tagged image
        await push(store, 'g', blob(24), { subject: blob(23) }); // and its own referrer
        await push(store, 'g', blob(25), { size: 7 }); // untagged, old
        await push(store, 'g', blob(26), { subject: blob(25), size: 8 }); // referrer of the untagged one
        await push(store, 'h', blob(25), { size: 7 }); // the same digest in another repository
        const cutoff = now + 1;
        now += 10;
        await push(store, 'g', blob(27)); // untagged but recent
        const expected = [
          { repository: 'g', digest: blob(25), size: 7 },
          { repository: 'g', digest: blob(26), size: 8 },
          { repository: 'h', digest: blob(25), size: 7 },
        ];
        const preview = await store.previewCollection(cutoff, true);
        assert.deepEqual(preview.manifests, expected);
        assert.deepEqual(preview.links, []);
        assert.equal((await store.getManifest(repo('g'), blob(25)))?.digest, blob(25), 'the preview was rolled back');
        assert.deepEqual((await store.previewCollection(cutoff, false)).manifests, []);
        assert.equal((await store.collectionStatus(cutoff)).untaggedManifests.count, 7);

        assert.deepEqual(await store.removeUntaggedManifests(cutoff), expected);
        for (const kept of [20, 21, 22, 23, 24, 27]) assert.ok(await store.getManifest(repo('g'), blob(kept)), `kept ${kept}`);
        assert.equal(await store.getManifest(repo('h'), blob(25)), undefined);
        assert.deepEqual(await store.unreferencedBlobs(), [{ digest: blob(25), size: 7 }, { digest: blob(26), size: 8 }].sort((a, b) => (a.digest < b.digest ? -1 : 1)));
        assert.equal(await store.blobRecorded(blob(26)), true);
        assert.deepEqual((await store.forgetBlobsIfUnreferenced([blob(26), blob(22)])), [{ digest: blob(26), inline: false }]);
        assert.equal(await store.blobRecorded(blob(26)), false);
        assert.deepEqual(await store.removeEmptyRepositories(), ['h']);
        assert.equal(await store.repositoryExists(repo('h')), false);
      }));

    it('when a collection is previewed, then the stale links and the blobs it would forget are listed and nothing changes', () =>
      withStore(async (store) => {
        await store.linkBlob(repo('s'), blob(30), 3);
        now += 10;
        const preview = await store.previewCollection(now, false);
        assert.deepEqual(preview, { links: [{ repository: 's', digest: blob(30) }], manifests: [], blobs: [{ digest: blob(30), size: 3 }] });
        assert.equal(await store.linkedBlobSize(repo('s'), blob(30)), 3);
        assert.deepEqual(await store.collectionStatus(now), {
          stored: { count: 1, bytes: 3 },
          protectedLinks: { count: 0, bytes: 0 },
          untaggedManifests: { count: 0, bytes: 0 },
          uploads: { count: 0, bytes: 0 },
        });
      }));

    it('when leases and heartbeats are recorded, then one holder at a time until expiry, and live instances are those heard from', () =>
      withStore(async (store) => {
        assert.equal(await store.acquireLease('gc', 'a', 1_000), true);
        assert.equal(await store.acquireLease('gc', 'b', 1_000), false);
        assert.equal(await store.acquireLease('gc', 'a', 1_000), true, 'the holder renews');
        await store.releaseLease('gc', 'b');
        assert.equal(await store.acquireLease('gc', 'b', 1_000), false, 'only the holder releases');
        now += 1_001;
        assert.equal(await store.acquireLease('gc', 'b', 1_000), true, 'an expired lease is taken over');
        await store.releaseLease('gc', 'b');
        assert.equal(await store.acquireLease('gc', 'a', 1_000), true);

        await store.heartbeat('one', now);
        now += 100;
        await store.heartbeat('two', now);
        assert.deepEqual((await store.liveInstances(now - 50)).sort(), ['two']);
        assert.deepEqual((await store.liveInstances(now - 200)).sort(), ['one', 'two']);
        await store.removeInstance('two');
        assert.deepEqual(await store.liveInstances(now - 200), ['one']);
      }));

    it('when tags are listed for retention and removed, then manifests left untagged and unreferenced go with them; pulls keep the newest time', () =>
      withStore(async (store) => {
        await push(store, 'life', blob(40), { tag: 'old', blobs: [blob(1)] });
        now += 10;
        await push(store, 'life', blob(41), { tag: 'new', blobs: [blob(1)] });
        await push(store, 'life', blob(42), { tag: 'index', manifests: [blob(40)] });
        await push(store, 'other', blob(43));
        await store.recordPulls([{ repository: repo('life'), digest: blob(41), at: 500 }, { repository: repo('life'), digest: blob(41), at: 400 }]);
        assert.deepEqual(await store.listTaggedRepositories(), ['life']);
        assert.deepEqual(await store.listTagDetails(repo('life')), [
          { tag: 'index', digest: blob(42), updatedAt: now },
          { tag: 'new', digest: blob(41), updatedAt: now, lastPulledAt: 500 },
          { tag: 'old', digest: blob(40), updatedAt: now - 10 },
        ]);
        assert.deepEqual(await store.listUsage(), [
          { repository: 'life', bytes: 100 + 30, blobs: 1, manifests: 3, tags: 3 },
          { repository: 'other', bytes: 10, blobs: 0, manifests: 1, tags: 0 },
        ]);
        assert.deepEqual(await store.removeTags(repo('life'), [tag('old'), tag('new'), tag('missing')]), [blob(41)], 'the index still lists the old image');
        assert.ok(await store.getManifest(repo('life'), blob(40)));
      }));

    it('when a pull-through cache stores a repository\'s first manifest, then it is listed as a cache; pushed repositories never are, even when a cache stores into one later, and a deleted one leaves the list', () =>
      withStore(async (store) => {
        await push(store, 'pushed/app', blob(50), { tag: 'v1' });
        const cached = await store.putManifest({
          repository: repo('hub/library/alpine'),
          manifest: { digest: blob(51), mediaType: MANIFEST, size: 10 },
          blobReferences: [blob(52)],
          manifestReferences: [],
          tag: tag('3.20'),
          partial: true,
        });
        assert.deepEqual(cached.missing, { blobs: [blob(52)], manifests: [] }, 'a cache stores a manifest before its content');
        await push(store, 'hub/library/alpine', blob(53), { tag: 'pushed-later' });
        assert.deepEqual(await store.proxyCacheRepositories(), ['hub/library/alpine'], 'a later push does not unmark it');
        const intoPushed = await store.putManifest({ repository: repo('pushed/app'), manifest: { digest: blob(54), mediaType: MANIFEST, size: 10 }, blobReferences: [], manifestReferences: [], tag: tag('cached'), partial: true });
        assert.deepEqual(intoPushed.missing, { blobs: [], manifests: [] });
        assert.deepEqual(await store.proxyCacheRepositories(), ['hub/library/alpine'], 'a repository holding pushed images stays unmarked');
        assert.equal(await store.isProxyCache(repo('hub/library/alpine')), true);
        assert.equal(await store.isProxyCache(repo('pushed/app')), false);
        assert.equal(await store.isProxyCache(repo('never/seen')), false);
        await store.deleteRepository(repo('hub/library/alpine'));
        assert.deepEqual(await store.proxyCacheRepositories(), []);
      }));

    it('when an import finishes, then its time is recorded, and recorded again by a later run', () =>
      withStore(async (store) => {
        assert.equal(await store.importFinishedAt('registry2'), undefined);
        await store.recordImportFinished('registry2', 5, '{"repositories":1}');
        await store.recordImportFinished('registry2', 6, '{"repositories":2}');
        assert.equal(await store.importFinishedAt('registry2'), 6);
      }));

    it('when repositories are searched, then exact names, prefixes, names and descriptions rank in that order; % and _ mean themselves', () =>
      withStore(async (store) => {
        await push(store, 'nginx', blob(50), { tag: 'v1', description: 'Official build' });
        await push(store, 'library/nginx', blob(51), { tag: 'v1' });
        await push(store, 'nginx-exporter', blob(52), { tag: 'v1' });
        await push(store, 'proxy', blob(53), { tag: 'v1', description: 'Fronts NGINX logs' });
        await store.linkBlob(repo('nginx-blobs-only'), blob(1), 1);
        assert.deepEqual(await store.searchRepositories('NGINX'), [
          { name: 'nginx', description: 'Official build' },
          { name: 'nginx-exporter' },
          { name: 'library/nginx' },
          { name: 'proxy', description: 'Fronts NGINX logs' },
        ]);
        assert.deepEqual(await store.searchRepositories('%'), []);
        assert.deepEqual(await store.searchRepositories('n_inx'), []);
        await push(store, 'tools', blob(54), { tag: 'v1', description: 'C:\\Tools, 100% pure' });
        assert.deepEqual(await store.searchRepositories('c:\\tools, 100%'), [{ name: 'tools', description: 'C:\\Tools, 100% pure' }], 'a description matches \\ and % as themselves');
        assert.deepEqual(await store.searchRepositories('c:\\t_ols'), []);
        await push(store, 'tools', blob(55), { tag: 'v2', description: 'Renamed kit' });
        assert.deepEqual(await store.searchRepositories('100%'), [], 'the old description is forgotten');
        assert.deepEqual(await store.searchRepositories('ed ki'), [{ name: 'tools', description: 'Renamed kit' }]);
        assert.deepEqual((await store.searchRepositories('')).map((match) => match.name), ['library/nginx', 'nginx', 'nginx-exporter', 'proxy', 'tools']);
      }));

    it('when every trigram of a term is common, then the search still finds exactly the listed matches', () =>
      withStore(async (store) => {
        await store.linkBlobs(repo('common-0'), [{ digest: blob(1), size: 1 }]);
        for (let index = 1; index <= TRIGRAM_POSTINGS_BOUND; index++) await store.linkBlob(repo(`common-${index}`), blob(1), 1);
        await push(store, 'common-7', blob(56), { tag: 'v1' });
        await push(store, 'rare', blob(57), { tag: 'v1', description: 'Not COMMON at all' });
        assert.deepEqual(await store.searchRepositories('common'), [{ name: 'common-7' }, { name: 'rare', description: 'Not COMMON at all' }]);
        assert.deepEqual(await store.searchRepositories('mon-7'), [{ name: 'common-7' }]);
      }));

    it('when repositories are browsed, then counts, times and distinct bytes are summarised; tags show their manifest with what it references', () =>
      withStore(async (store) => {
        await push(store, 'b', blob(60), { tag: 'v1', size: 10, blobs: [blob(1), blob(2)] });
        now += 5;
        await push(store, 'b', blob(61), { tag: 'v2', size: 20, blobs: [blob(1)] });
        await store.recordPulls([{ repository: repo('b'), digest: blob(60), at: now + 7 }]);
        assert.deepEqual(await store.orderedRepositories({ sort: 'name', order: 'asc', filter: '' }), ['b']);
        assert.deepEqual(await store.repositorySummaries([repo('b'), repo('none')]), [
          { name: 'b', tags: 2, manifests: 2, bytes: 100 + 100 + 10 + 20, pushedAt: now, pulledAt: now + 7 },
        ]);
        assert.deepEqual(await store.tagSummaries(repo('b')), [
          { tag: 'v1', digest: blob(60), mediaType: MANIFEST, bytes: 210, platforms: [], updatedAt: now - 5, lastPulledAt: now + 7 },
          { tag: 'v2', digest: blob(61), mediaType: MANIFEST, bytes: 120, platforms: [], updatedAt: now },
        ]);
        assert.deepEqual(await store.blobSizes([blob(1), blob(60), blob(99), blob(1)]), new Map([[blob(1), 100], [blob(60), 10]]));
      }));

    it('when repositories are ordered, then each sort and direction breaks ties by name in byte order, the filter matches names and descriptions, and blob-only repositories are left out', () =>
      withStore(async (store) => {
        now = 1_000;
        await push(store, 'zeta', blob(60), { tag: 'v1', size: 10, blobs: [blob(1)] }); // 110 bytes
        now = 2_000;
        await push(store, 'a_b', blob(61), { tag: 'v1', size: 30, description: 'Web Server' }); // 30
        await push(store, 'a-b', blob(62), { tag: 'v1', size: 20, blobs: [blob(1), blob(2)] }); // 220
        await store.linkBlob(repo('blobs-only'), blob(3), 1_000);
        await store.recordPulls([{ repository: repo('zeta'), digest: blob(60), at: 5_000 }]);
        const order = (sort: 'name' | 'pushed' | 'size' | 'pulled', direction: 'asc' | 'desc', filter = '') => store.orderedRepositories({ sort, order: direction, filter });
        assert.deepEqual(await order('name', 'asc'), ['a-b', 'a_b', 'zeta']);
        assert.deepEqual(await order('name', 'desc'), ['zeta', 'a_b', 'a-b']);
        assert.deepEqual(await order('pushed', 'asc'), ['zeta', 'a-b', 'a_b']);
        assert.deepEqual(await order('pushed', 'desc'), ['a-b', 'a_b', 'zeta'], 'ties stay in name order whichever the direction');
        assert.deepEqual(await order('size', 'asc'), ['a_b', 'zeta', 'a-b']);
        assert.deepEqual(await order('size', 'desc'), ['a-b', 'zeta', 'a_b']);
        assert.deepEqual(await order('pulled', 'asc'), ['a-b', 'a_b', 'zeta'], 'never pulled counts as 0');
        assert.deepEqual(await order('pulled', 'desc'), ['zeta', 'a-b', 'a_b']);
        assert.deepEqual(await order('name', 'asc', 'server'), ['a_b'], 'descriptions match case-insensitively');
        assert.deepEqual(await order('name', 'asc', 'a-'), ['a-b']);
        assert.deepEqual(await order('size', 'desc', 'e'), ['zeta', 'a_b']);
        assert.deepEqual(await order('name', 'asc', '%'), [], '% means itself');
        assert.deepEqual(await order('name', 'asc', 'blobs'), []);
      }));

    it('when content is linked, pushed, retagged, pulled, untagged, deleted, collected and restored, then the statistics are what a recount gives', () =>
      withStore(async (store) => {
        const stats = async (name: string) => (await store.repositorySummaries([repo(name)]))[0];
        const listed = () => store.orderedRepositories({ sort: 'name', order: 'asc', filter: '' });
        now = 10_000;
        await store.linkBlob(repo('s'), blob(1), 100);
        assert.equal(await stats('s'), undefined, 'a repository holding only blobs is not listed');
        await push(store, 's', blob(80), { tag: 'v1', size: 10, blobs: [blob(1)] });
        assert.deepEqual(await stats('s'), { name: 's', tags: 1, manifests: 1, bytes: 110, pushedAt: 10_000 });
        now = 11_000;
        await push(store, 's', blob(81), { tag: 'v1', size: 20, blobs: [blob(1), blob(2)], description: 'second' }); // the tag moves
        assert.deepEqual(await stats('s'), { name: 's', description: 'second', tags: 1, manifests: 2, bytes: 230, pushedAt: 11_000 });
        now = 12_000;
        await push(store, 's', blob(81), { tag: 'v2', description: 'second' }); // a stored manifest, tagged again
        await push(store, 's', blob(81), {}); // the same manifest again, untagged: no push
        assert.deepEqual(await stats('s'), { name: 's', description: 'second', tags: 2, manifests: 2, bytes: 230, pushedAt: 12_000 });

        await store.recordPulls([{ repository: repo('s'), digest: blob(80), at: 12_500 }, { repository: repo('s'), digest: blob(99), at: 13_000 }]);
        await store.recordPulls([{ repository: repo('s'), digest: blob(81), at: 12_400 }]);
        assert.equal((await stats('s'))?.pulledAt, 12_500, 'the newest pull of a stored manifest');

        // Import: a tag it would move is left alone, and nothing is counted.
        const kept = await store.putManifest({ repository: repo('s'), manifest: { digest: blob(82), mediaType: MANIFEST, size: 5 }, blobReferences: [], manifestReferences: [], tag: tag('v1'), keepExistingTag: true });
        assert.equal(kept.tagConflict, blob(81));
        assert.deepEqual(await stats('s'), { name: 's', description: 'second', tags: 2, manifests: 2, bytes: 230, pushedAt: 12_000, pulledAt: 12_500 });

        assert.equal(await store.deleteTag(repo('s'), tag('v2')), true);
        assert.deepEqual(await stats('s'), { name: 's', description: 'second', tags: 1, manifests: 2, bytes: 230, pushedAt: 11_000, pulledAt: 12_500 }, 'the push time falls back to the newest left');
        assert.equal(await store.deleteManifest(repo('s'), blob(80)), true);
        assert.deepEqual(await stats('s'), { name: 's', description: 'second', tags: 1, manifests: 1, bytes: 220, pushedAt: 11_000, pulledAt: 12_400 }, 'its bytes stay while its layer is linked');

        now = 14_000;
        await store.linkBlobs(repo('s'), [{ digest: blob(3), size: 50 }, { digest: blob(1), size: 100 }]);
        assert.equal((await stats('s'))?.bytes, 270, 'a blob already held counts once');
        assert.equal(await store.unlinkBlob(repo('s'), blob(3)), true);
        assert.equal((await stats('s'))?.bytes, 220);
        await store.createUpload({ id: 'stats-upload', repository: repo('s'), offset: 0, createdAt: now, updatedAt: now });
        await store.completeUpload('stats-upload', repo('s'), blob(4), 40);
        assert.equal((await stats('s'))?.bytes, 260);
        const collected = await store.removeStaleLinks(now + 1);
        assert.deepEqual(collected, [{ repository: 's', digest: blob(4) }]);
        assert.equal((await stats('s'))?.bytes, 220, 'collected links no longer count');
        assert.equal(await store.restoreLinks(collected, now), 1);
        assert.equal((await stats('s'))?.bytes, 260, 'restored links count again');

        // Retention removes the last tag and the manifest it leaves orphaned: no longer listed.
        assert.deepEqual(await store.removeTags(repo('s'), [tag('v1')]), [blob(81)]);
        assert.equal(await stats('s'), undefined);
        assert.deepEqual(await listed(), []);
        now = 15_000;
        await push(store, 's', blob(83), { size: 7 }); // untagged
        assert.deepEqual(await stats('s'), { name: 's', description: 'second', tags: 0, manifests: 1, bytes: 100 + 100 + 40 + 7, pushedAt: 15_000 }, 'the description of its last tagged push stays');
        assert.deepEqual((await store.removeUntaggedManifests(now + 1)).map((removed) => removed.digest), [blob(83)]);
        assert.deepEqual(await listed(), []);

        // A deleted or emptied repository starts again from nothing.
        await push(store, 'gone', blob(84), { tag: 'v1', size: 9, blobs: [blob(5)] });
        assert.deepEqual((await store.deleteRepository(repo('gone'))).deleted, true);
        assert.equal(await stats('gone'), undefined);
        now = 16_000;
        await push(store, 'gone', blob(85), { tag: 'v1', size: 3 });
        assert.deepEqual(await stats('gone'), { name: 'gone', tags: 1, manifests: 1, bytes: 3, pushedAt: 16_000 });
        assert.deepEqual(await listed(), ['gone']);
      }));

    it('when two stores on one database (two replicas) race to fill a quota, then only one wins', () =>
      withStore(async (store, reopen) => {
        const other = await reopen();
        try {
          const quota = { limitBytes: 150 };
          const results = await Promise.all([
            store.linkBlob(repo('race'), blob(70), 100, quota),
            other.linkBlob(repo('race'), blob(71), 100, quota),
          ]);
          assert.equal(results.filter((result) => result === undefined).length, 1, JSON.stringify(results));
          assert.equal(await store.usage(repo('race'), quota), 100);
        } finally {
          await other.close();
        }
      }));
  });
}
