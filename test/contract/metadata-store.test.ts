import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteMetadataStore } from '../../src/metadata/sqlite/sqlite-store.js';
import type { MetadataStore } from '../../src/metadata/store.js';
import type { Digest } from '../../src/oci/digest.js';
import type { RepositoryName, Tag } from '../../src/oci/names.js';

/** The suite every MetadataStore passes (SQLite now; PostgreSQL must pass it unchanged). */
interface StoreFactory {
  name: string;
  create(): Promise<{ store: MetadataStore; reopen(): Promise<MetadataStore>; dispose(): Promise<void> }>;
}

const factories: StoreFactory[] = [
  {
    name: 'sqlite',
    async create() {
      const dir = await mkdtemp(join(tmpdir(), 'berth-meta-'));
      const path = join(dir, 'berth.sqlite');
      return { store: new SqliteMetadataStore(path), reopen: async () => new SqliteMetadataStore(path), dispose: () => rm(dir, { recursive: true, force: true }) };
    },
  },
];

const repo = (name: string) => name as RepositoryName;
const tag = (name: string) => name as Tag;
const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;

for (const factory of factories) {
  describe(`MetadataStore contract: ${factory.name}`, () => {
    let store: MetadataStore;
    let reopen: () => Promise<MetadataStore>;
    let dispose: () => Promise<void>;
    before(async () => ({ store, reopen, dispose } = await factory.create()));
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
      await store.setUploadOffset('u1', 42, now - 5_000);
      await store.close();
      store = await reopen();
      assert.deepEqual(await store.getUpload('u1'), { id: 'u1', repository: 'up', offset: 42, createdAt: now - 10_000, updatedAt: now - 5_000 });
      assert.deepEqual((await store.listUploadsUpdatedBefore(now)).map((u) => u.id), ['u1']);
      assert.deepEqual(await store.listUploadsUpdatedBefore(now - 6_000), []);
      await store.completeUpload('u1', repo('up'), digest('9'), 42);
      assert.equal(await store.getUpload('u1'), undefined);
      assert.equal(await store.linkedBlobSize(repo('up'), digest('9')), 42);
    });
  });
}
