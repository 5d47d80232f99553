import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

describe('schema migrations', () => {
  it('when listed, then versions start at 1 and strictly increase (a number reserved by another branch may be missing)', () => {
    assert.equal(MIGRATIONS[0]!.version, 1);
    MIGRATIONS.slice(1).forEach((migration, index) => assert.ok(migration.version > MIGRATIONS[index]!.version, migration.description));
  });

  it('when applied in order to an empty database, then every one succeeds', () => {
    const db = new Database(':memory:');
    for (const migration of MIGRATIONS) db.exec(migration.sql);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    assert.ok(tables.includes('manifests') && tables.includes('tags') && tables.includes('uploads'));
    db.close();
  });
});
