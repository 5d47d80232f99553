import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

describe('schema migrations', () => {
  // Parallel branches reserve their numbers (6, 7, 8 …), so a branch may have a gap until they merge.
  it('when listed, then versions are unique and strictly increasing from 1', () => {
    assert.equal(MIGRATIONS[0]?.version, 1);
    MIGRATIONS.forEach((migration, index) => {
      if (index > 0) assert.ok(migration.version > MIGRATIONS[index - 1]!.version, migration.description);
    });
  });

  it('when applied in order to an empty database, then every one succeeds', () => {
    const db = new Database(':memory:');
    for (const migration of MIGRATIONS) db.exec(migration.sql);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    assert.ok(tables.includes('manifests') && tables.includes('tags') && tables.includes('uploads'));
    db.close();
  });
});
