import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIGRATIONS } from './migrations.js';
import { migrate, SchemaTooNewError } from './migrate.js';
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
});
