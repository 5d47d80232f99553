import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../../oci/digest.js';
import type { RepositoryName } from '../../oci/names.js';
import { MIGRATIONS } from './migrations.js';
import { migrate, SchemaTooNewError } from './migrate.js';
import { SqlMetadataStore } from './sql-store.js';
import { SqliteDatabase } from './sqlite-database.js';

describe('schema migrations', () => {
  it('when listed, then versions run 1, 2, 3 … with no gap and no repeat', () => {
    assert.deepEqual(MIGRATIONS.map((migration) => migration.version), MIGRATIONS.map((_, index) => index + 1));
  });

  it('when applied to an empty database, then every version is applied once and recorded', async () => {
    const db = new SqliteDatabase(':memory:');
    const first = await migrate(db);
    assert.deepEqual(first.applied, MIGRATIONS.map((migration) => migration.version));
    const tables = (await db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")).map((row) => row.name);
    assert.ok(tables.includes('manifests') && tables.includes('tags') && tables.includes('uploads'));
    assert.deepEqual(await migrate(db), { applied: [], version: first.version });
    await db.close();
  });

  it('when the database is at a version this binary does not know, then it is refused and left alone', async () => {
    const db = new SqliteDatabase(':memory:');
    const { version } = await migrate(db);
    await db.run('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', [version + 1, 0]);
    await assert.rejects(migrate(db), (error) => error instanceof SchemaTooNewError && error.databaseVersion === version + 1);
    await db.close();
  });

  it('when versions 9 to 14 are applied to a database holding repositories, then their statistics are counted from what they hold, their names and descriptions are indexed, none is taken for a proxy\'s cache, and every blob stays in storage', async () => {
    const db = new SqliteDatabase(':memory:');
    await migrate(db, Date.now, MIGRATIONS.filter((migration) => migration.version <= 8));
    const digest = (n: number) => `sha256:${String(n).repeat(64)}`;
    await db.exec(`
      INSERT INTO repositories (id, name, created_at, description) VALUES (1, 'a', 0, 'first'), (2, 'b', 0, NULL), (3, 'blobs-only', 0, NULL);
      INSERT INTO blobs (digest, size, created_at) VALUES ('${digest(1)}', 100, 0), ('${digest(2)}', 50, 0), ('${digest(3)}', 10, 0), ('${digest(4)}', 20, 0);
      INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (1, '${digest(1)}', 0), (1, '${digest(2)}', 0), (3, '${digest(1)}', 0);
      INSERT INTO manifests (repository_id, digest, media_type, size, created_at, last_pulled_at) VALUES
        (1, '${digest(3)}', 'x', 10, 5, 9), (1, '${digest(4)}', 'x', 20, 7, NULL), (2, '${digest(3)}', 'x', 10, 3, NULL);
      INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES (1, 'v1', '${digest(3)}', 8), (2, 'x', '${digest(3)}', 2);
    `);
    assert.deepEqual((await migrate(db)).applied, [9, 10, 11, 12, 13, 14]);
    const store = new SqlMetadataStore(db);
    assert.deepEqual(await store.orderedRepositories({ sort: 'size', order: 'desc', filter: '' }), ['a', 'b'], 'a repository holding only blobs is not listed');
    assert.deepEqual(await store.repositorySummaries(['a', 'b'] as RepositoryName[]), [
      { name: 'a', description: 'first', tags: 1, manifests: 2, bytes: 100 + 50 + 10 + 20, pushedAt: 8, pulledAt: 9 },
      { name: 'b', tags: 1, manifests: 1, bytes: 10, pushedAt: 3 },
    ]);
    assert.deepEqual(await store.searchRepositories('FIRST'), [{ name: 'a', description: 'first' }], 'descriptions are indexed for search');
    assert.deepEqual(await store.searchRepositories('only'), [], 'names are indexed; a repository holding only blobs is not found');
    assert.deepEqual(await store.proxyCacheRepositories(), [], 'what a proxy filled before version 13 is not known: nothing expires by age');
    assert.equal(await store.inlineBlob(digest(3) as Digest), undefined, 'blobs recorded before version 14 have their bytes in storage');
    await store.close();
  });
});
