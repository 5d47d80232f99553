import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { KNOWN_SCHEMA_VERSION } from '../../src/metadata/sql/migrate.js';
import { startPostgres, type RunningPostgres } from '../support/postgres.js';
import { runCli as berth } from '../support/server.js';

const ALL_VERSIONS = Array.from({ length: KNOWN_SCHEMA_VERSION }, (_, index) => index + 1).join(', ');

describe('berth migrate', () => {
  let dir: string;
  let postgres: RunningPostgres;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-pg-migrate-'));
    postgres = await startPostgres();
  });
  after(async () => {
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('when run on the embedded database, then every version is applied once, and the next run finds it current', async () => {
    const config = join(dir, 'sqlite.yml');
    await writeFile(config, stringify({ version: 0.1, storage: { filesystem: { rootdirectory: join(dir, 'data') } } }));
    const first = await berth(['migrate', config]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`applied ${ALL_VERSIONS}; schema at version ${KNOWN_SCHEMA_VERSION}`));
    const second = await berth(['migrate', config]);
    assert.match(second.stdout, new RegExp(`schema is current \\(version ${KNOWN_SCHEMA_VERSION}\\)`));
  });

  it('when two replicas migrate one PostgreSQL database at once (configured by REGISTRY_DATABASE_*), then each version is applied once, the audit trail append-only', async () => {
    const settings = await postgres.createDatabase('migrate_race');
    const env = {
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'replica'),
      REGISTRY_DATABASE_ENABLED: 'true',
      REGISTRY_DATABASE_HOST: '127.0.0.1',
      REGISTRY_DATABASE_PORT: String(postgres.port),
      REGISTRY_DATABASE_USER: 'postgres',
      REGISTRY_DATABASE_PASSWORD: 'unused-with-trust-auth',
      REGISTRY_DATABASE_DBNAME: settings.database!,
      REGISTRY_DATABASE_SSLMODE: 'disable',
    };
    const outcomes = await Promise.all([berth(['migrate'], env), berth(['migrate'], env)]);
    for (const outcome of outcomes) {
      assert.equal(outcome.code, 0, outcome.stderr);
      assert.doesNotMatch(outcome.stdout + outcome.stderr, /unused-with-trust-auth/, 'the password is never printed');
    }
    const applied = outcomes.map((outcome) => outcome.stdout).sort();
    assert.match(applied[0]!, new RegExp(`postgresql postgres@127\\.0\\.0\\.1:${postgres.port}/migrate_race: applied ${ALL_VERSIONS}`));
    assert.match(applied[1]!, /schema is current/);
    const client = new pg.Client(settings);
    await client.connect();
    try {
      const rows = (await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((row) => row.version);
      assert.equal(rows.join(', '), ALL_VERSIONS);
      await client.query("INSERT INTO audit_events (at, actor, action) VALUES (1, 'alice', 'push')");
      await assert.rejects(client.query("UPDATE audit_events SET actor = 'mallory'"), /the audit trail is append-only/);
      // A newer Berth migrated it further: this one refuses to touch it.
      await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)', [KNOWN_SCHEMA_VERSION + 1]);
    } finally {
      await client.end();
    }
    const refused = await berth(['migrate'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`schema version ${KNOWN_SCHEMA_VERSION + 1}, newer than this Berth knows \\(${KNOWN_SCHEMA_VERSION}\\)`));
  });
});
