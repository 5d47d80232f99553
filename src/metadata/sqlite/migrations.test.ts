import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

describe('schema migrations', () => {
  it('when listed, then versions run 1, 2, 3 … with no gap and no repeat', () => {
    assert.deepEqual(MIGRATIONS.map((migration) => migration.version), MIGRATIONS.map((_, index) => index + 1));
  });

  it('when applied in order to an empty database, then every one succeeds', () => {
    const db = new Database(':memory:');
    for (const migration of MIGRATIONS) db.exec(migration.sql);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    assert.ok(tables.includes('manifests') && tables.includes('tags') && tables.includes('uploads'));
    db.close();
  });
});
