import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../../oci/digest.js';
import type { RepositoryName, Tag } from '../../oci/names.js';
import { copyMetadata } from './copy.js';
import { SqlMetadataStore } from './sql-store.js';
import { SqliteDatabase } from './sqlite-database.js';

describe('moving the metadata to another database', () => {
  it('when a registry is copied, then the target lists and finds its repositories as the source does', async () => {
    const sourceDatabase = new SqliteDatabase(':memory:');
    const source = await SqlMetadataStore.open(sourceDatabase);
    const layer = `sha256:${'1'.repeat(64)}` as Digest;
    const manifest = `sha256:${'2'.repeat(64)}` as Digest;
    await source.linkBlob('team/app' as RepositoryName, layer, 100);
    await source.putManifest({
      repository: 'team/app' as RepositoryName,
      manifest: { digest: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 10, description: 'Billing service' },
      blobReferences: [layer],
      manifestReferences: [],
      tag: 'v1' as Tag,
    });
    const targetDatabase = new SqliteDatabase(':memory:');
    const target = await SqlMetadataStore.open(targetDatabase);
    const copied = await copyMetadata(sourceDatabase, targetDatabase);
    assert.equal(copied.repository_stats, 1);
    assert.ok(copied.repository_trigrams! > 0);
    const list = { sort: 'size', order: 'desc', filter: '' } as const;
    assert.deepEqual(await target.orderedRepositories(list), await source.orderedRepositories(list));
    assert.deepEqual(await target.repositorySummaries(['team/app' as RepositoryName]), await source.repositorySummaries(['team/app' as RepositoryName]));
    assert.deepEqual(await target.searchRepositories('billing'), [{ name: 'team/app', description: 'Billing service' }]);
    await source.close();
    await target.close();
  });
});
