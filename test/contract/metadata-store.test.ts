import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqlMetadataStore } from '../../src/metadata/sql/sql-store.js';
import { openSqliteMetadataStore } from '../../src/metadata/sqlite/sqlite-store.js';
import type { MetadataStore } from '../../src/metadata/store.js';
import type { Digest } from '../../src/oci/digest.js';
import type { RepositoryName, Tag } from '../../src/oci/names.js';
import { postgresForThisFile } from '../support/postgres.js';
import { everyMethodCalled, recordingCalls } from './metadata-store-coverage.js';
import { metadataStoreRules, type StoreFactory } from './metadata-store-rules.js';

// One PostgreSQL server for the file; each store gets a database of its own.
const postgres = postgresForThisFile();
let databases = 0;

const factories: StoreFactory[] = [
  {
    name: 'sqlite',
    async create(clock) {
      const dir = await mkdtemp(join(tmpdir(), 'berth-meta-'));
      const path = join(dir, 'berth.sqlite');
      return { store: await openSqliteMetadataStore(path, clock), reopen: () => openSqliteMetadataStore(path, clock), dispose: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgresql',
    async create(clock) {
      // A collation unlike byte order: names must still list in byte order, as on SQLite.
      const settings = await postgres().createDatabase(`contract_${++databases}`, { collation: 'en-US' });
      const open = () => SqlMetadataStore.open(postgres().open(settings), clock);
      return { store: await open(), reopen: open, dispose: async () => {} };
    },
  },
];

const repo = (name: string) => name as RepositoryName;
const tag = (name: string) => name as Tag;
const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
/** Digests no other test uses (blob rows are shared by every repository). */
const fresh = (n: number) => `sha256:${n.toString(16).padStart(64, '5')}` as Digest;

for (const factory of factories) {
  describe(`MetadataStore contract: ${factory.name}`, () => {
    let store: MetadataStore;
    let reopen: () => Promise<MetadataStore>;
    let dispose: () => Promise<void>;
    let now = Date.now();
    before(async () => {
      ({ store, reopen, dispose } = await factory.create(() => now));
      store = recordingCalls(store);
    });
    after(async () => {
      await store.close();
      await dispose();
    });

    it('when a blob is linked, then only that repository sees it, and unlinking hides it again', async () => {
      await store.linkBlob(repo('a'), digest('1'), 10);
      assert.equal(await store.linkedBlobSize(repo('a'), digest('1')), 10);
      assert.equal(await store.linkedBlobSize(repo('b'), digest('1')), undefined);
      await store.linkBlob(repo('a'), digest('1'), 10);
      assert.equal(await store.unlinkBlob(repo('a'), digest('1')), true);
      assert.equal(await store.unlinkBlob(repo('a'), digest('1')), false);
      assert.equal(await store.linkedBlobSize(repo('a'), digest('1')), undefined);
    });

    it('when a manifest references missing content, then nothing is stored and the missing digests are reported', async () => {
      await store.linkBlob(repo('m'), digest('2'), 5);
      const missing = await store.putManifest({
        repository: repo('m'),
        manifest: { digest: digest('a'), mediaType: 'x', size: 3 },
        blobReferences: [digest('2'), digest('3')],
        manifestReferences: [digest('4')],
        tag: tag('v1'),
      });
      assert.deepEqual(missing, { missing: { blobs: [digest('3')], manifests: [digest('4')] } });
      assert.equal(await store.getManifest(repo('m'), digest('a')), undefined);
      assert.equal(await store.resolveTag(repo('m'), tag('v1')), undefined);
    });

    it('when a manifest is stored with a tag, then tag and digest resolve to it; retagging moves the tag', async () => {
      await store.linkBlob(repo('m'), digest('3'), 7);
      const entry = { repository: repo('m'), blobReferences: [digest('2'), digest('3')], manifestReferences: [] };
      await store.putManifest({ ...entry, manifest: { digest: digest('b'), mediaType: 'x', size: 3, artifactType: 't', annotations: { k: 'v' } }, tag: tag('v1') });
      await store.putManifest({ ...entry, manifest: { digest: digest('c'), mediaType: 'x', size: 4, subject: digest('b') }, tag: tag('v2') });
      assert.equal((await store.resolveTag(repo('m'), tag('v1')))?.digest, digest('b'));
      const record = await store.getManifest(repo('m'), digest('b'));
      assert.deepEqual({ ...record, createdAt: 0 }, { digest: digest('b'), mediaType: 'x', size: 3, artifactType: 't', annotations: { k: 'v' }, createdAt: 0 });
      await store.putManifest({ ...entry, manifest: { digest: digest('c'), mediaType: 'x', size: 4, subject: digest('b') }, tag: tag('v1') });
      assert.equal((await store.resolveTag(repo('m'), tag('v1')))?.digest, digest('c'));
      assert.deepEqual((await store.listReferrers(repo('m'), digest('b'))).map((r) => r.digest), [digest('c')]);
    });

    it('when tags and repositories are listed, then they come in byte order, paged', async () => {
      for (const name of ['v3', 'V0', 'a', '_']) {
        await store.putManifest({ repository: repo('m'), manifest: { digest: digest('b'), mediaType: 'x', size: 3 }, blobReferences: [], manifestReferences: [], tag: tag(name) });
      }
      const all = await store.listTags(repo('m'), 100);
      assert.deepEqual(all.items, ['V0', '_', 'a', 'v1', 'v2', 'v3']);
      const page = await store.listTags(repo('m'), 2, 'V0');
      assert.deepEqual(page, { items: ['_', 'a'], more: true });
      const repositories = await store.listRepositories(100);
      assert.deepEqual(repositories.items, ['m']);
    });

    it('when a manifest is deleted, then its tags go with it; deleting a tag leaves the manifest', async () => {
      assert.equal(await store.deleteTag(repo('m'), tag('v3')), true);
      assert.equal(await store.deleteTag(repo('m'), tag('v3')), false);
      assert.ok(await store.getManifest(repo('m'), digest('b')));
      assert.equal(await store.deleteManifest(repo('m'), digest('b')), true);
      assert.equal(await store.resolveTag(repo('m'), tag('a')), undefined);
      assert.equal(await store.deleteManifest(repo('m'), digest('b')), false);
    });

    it('when upload sessions are recorded, then they survive a reopen and complete atomically into a link', async () => {
      const now = Date.now();
      await store.createUpload({ id: 'u1', repository: repo('up'), offset: 0, createdAt: now - 10_000, updatedAt: now - 10_000 });
      await store.recordUploadProgress('u1', { offset: 42, updatedAt: now - 5_000, hashState: new Uint8Array([1, 2, 3]), storageState: '{"parts":[]}' });
      await store.close();
      store = recordingCalls(await reopen());
      assert.deepEqual(await store.getUpload('u1'), {
        id: 'u1',
        repository: 'up',
        offset: 42,
        createdAt: now - 10_000,
        updatedAt: now - 5_000,
        hashState: new Uint8Array([1, 2, 3]),
        storageState: '{"parts":[]}',
      });
      assert.deepEqual((await store.listUploadsUpdatedBefore(now)).map((u) => u.id), ['u1']);
      assert.deepEqual(await store.listUploadsUpdatedBefore(now - 6_000), []);
      await store.completeUpload('u1', repo('up'), digest('9'), 42);
      assert.equal(await store.getUpload('u1'), undefined);
      assert.equal(await store.linkedBlobSize(repo('up'), digest('9')), 42);
    });

    it('when several blobs are linked at once, then each is recorded and linked', async () => {
      await store.linkBlobs(repo('batch'), [{ digest: fresh(1), size: 1 }, { digest: fresh(2), size: 2 }]);
      assert.equal(await store.linkedBlobSize(repo('batch'), fresh(1)), 1);
      assert.equal(await store.linkedBlobSize(repo('batch'), fresh(2)), 2);
    });

    it('when small blobs are recorded with their bytes, then their rows give them back; a blob recorded already keeps where its bytes are; forgetting one says they went with it', async () => {
      const config = Buffer.from('{"architecture":"amd64"}');
      await store.linkBlob(repo('inline'), fresh(40), config.length, undefined, undefined, config);
      assert.deepEqual(await store.inlineBlob(fresh(40)), config);
      await store.linkBlob(repo('inline'), fresh(41), 10);
      await store.linkBlob(repo('inline-2'), fresh(41), 10, undefined, undefined, Buffer.alloc(10));
      assert.equal(await store.inlineBlob(fresh(41)), undefined, 'first recorded with its bytes in storage: they stay there');
      await store.createUpload({ id: 'u-inline', repository: repo('inline'), offset: 0, createdAt: now, updatedAt: now });
      await store.completeUpload('u-inline', repo('inline'), fresh(42), 3, undefined, undefined, Buffer.from('abc'));
      assert.deepEqual(await store.inlineBlob(fresh(42)), Buffer.from('abc'));
      const manifest = Buffer.from('{"schemaVersion":2}');
      const entry = { repository: repo('inline'), manifest: { digest: fresh(43), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifest.length }, blobReferences: [fresh(40)], manifestReferences: [] };
      await store.putManifest({ ...entry, content: manifest });
      assert.deepEqual(await store.inlineBlob(fresh(43)), manifest);
      await store.linkBlobs(repo('inline'), [{ digest: fresh(44), size: 2, content: Buffer.from('hi') }]);
      assert.deepEqual(await store.inlineBlob(fresh(44)), Buffer.from('hi'));
      assert.equal(await store.inlineBlob(fresh(45)), undefined, 'never recorded');

      await store.deleteRepository(repo('inline'));
      await store.deleteRepository(repo('inline-2'));
      assert.deepEqual(await store.forgetBlobsIfUnreferenced([fresh(40), fresh(41), fresh(42), fresh(43), fresh(44)]), [
        { digest: fresh(40), inline: true },
        { digest: fresh(41), inline: false },
        { digest: fresh(42), inline: true },
        { digest: fresh(43), inline: true },
        { digest: fresh(44), inline: true },
      ]);
      assert.equal(await store.inlineBlob(fresh(40)), undefined, 'the bytes went with the row');
    });

    it('when a link is unreferenced, then it is stale unless touched after its last reference within the cutoff; restoring links it again', async () => {
      // A store of its own: collection status counts every repository's links.
      const own = await factory.create(() => now);
      const store = recordingCalls(own.store);
      const hour = 3_600_000;
      await store.linkBlob(repo('grace'), fresh(3), 3); // uploaded: touched now, never referenced
      await store.linkBlob(repo('grace'), fresh(4), 4);
      now += 1_000;
      const manifest = { digest: fresh(5), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 9 };
      assert.deepEqual((await store.putManifest({ repository: repo('grace'), manifest, blobReferences: [fresh(4)], manifestReferences: [] })).missing, { blobs: [], manifests: [] });
      assert.equal(await store.deleteManifest(repo('grace'), fresh(5)), true);
      now += 1_000;
      await store.recordTouches([{ repository: repo('grace'), digest: fresh(3), at: now }]);

      // c: touched and never referenced, within the hour → kept; d: referenced after its last touch → stale.
      const removed = await store.removeStaleLinks(now - hour);
      assert.deepEqual(removed.map((link) => link.digest), [fresh(4)]);
      assert.equal((await store.collectionStatus(now - hour)).protectedLinks.count, 1);
      assert.deepEqual((await store.removeStaleLinks(now + 1)).map((link) => link.digest), [fresh(3)], 'past the cutoff a touch protects nothing');

      assert.equal(await store.restoreLinks([{ repository: repo('grace'), digest: fresh(3) }], now), 1);
      assert.equal(await store.linkedBlobSize(repo('grace'), fresh(3)), 3);
      assert.deepEqual(await store.forgetBlobsIfUnreferenced([fresh(3), fresh(4)]), [{ digest: fresh(4), inline: false }]);
      await store.close();
      await own.dispose();
    });

    it('when a repository is deleted, then its tags, manifests, links and uploads go in one step and it no longer exists', async () => {
      await store.linkBlob(repo('gone'), fresh(6), 5);
      await store.putManifest({ repository: repo('gone'), manifest: { digest: fresh(7), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 3 }, blobReferences: [fresh(6)], manifestReferences: [], tag: tag('v1') });
      await store.createUpload({ id: 'gone-upload', repository: repo('gone'), offset: 0, createdAt: now, updatedAt: now });
      assert.equal(await store.repositoryExists(repo('gone')), true);
      assert.deepEqual(await store.deleteRepository(repo('gone')), { deleted: true, uploads: ['gone-upload'] });
      assert.equal(await store.repositoryExists(repo('gone')), false);
      assert.equal(await store.resolveTag(repo('gone'), tag('v1')), undefined);
      assert.equal(await store.linkedBlobSize(repo('gone'), fresh(6)), undefined);
      assert.deepEqual(await store.deleteRepository(repo('gone')), { deleted: false, uploads: [] });
    });
  });

  metadataStoreRules(factory);
}

after(() => everyMethodCalled());
