import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SessionStore } from '../../src/http/ui/sessions.js';
import type { SqlDatabase } from '../../src/metadata/sql/database.js';
import { SqlMetadataStore } from '../../src/metadata/sql/sql-store.js';
import { SqliteDatabase } from '../../src/metadata/sql/sqlite-database.js';
import { SqlWebSessionStore } from '../../src/metadata/sql/sql-web-sessions.js';
import { postgresForThisFile } from '../support/postgres.js';

/**
 * Web UI sessions on each database the metadata lives in: two `SessionStore`s over one
 * database stand for two replicas behind a load balancer.
 */
const postgres = postgresForThisFile();
const MINUTE = 60_000;
const LIMITS = { idleMs: 30 * MINUTE, absoluteMs: 12 * 60 * MINUTE };

const factories = [
  {
    name: 'sqlite',
    async create(): Promise<{ database: SqlDatabase; dispose(): Promise<void> }> {
      const dir = await mkdtemp(join(tmpdir(), 'berth-sessions-'));
      return { database: new SqliteDatabase(join(dir, 'berth.sqlite')), dispose: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgresql',
    async create(): Promise<{ database: SqlDatabase; dispose(): Promise<void> }> {
      return { database: postgres().open(await postgres().createDatabase('sessions')), dispose: async () => {} };
    },
  },
];

for (const factory of factories) {
  describe(`web UI sessions: ${factory.name}`, () => {
    let database: SqlDatabase;
    let metadata: SqlMetadataStore;
    let dispose: () => Promise<void>;
    let now = 1_000_000;
    let replicaA: SessionStore;
    let replicaB: SessionStore;
    const alice = { kind: 'user' as const, name: 'alice', source: 'database' as const };
    const bob = { kind: 'user' as const, name: 'bob', source: 'htpasswd' as const };

    before(async () => {
      const created = await factory.create();
      database = created.database;
      dispose = created.dispose;
      metadata = await SqlMetadataStore.open(database);
      replicaA = new SessionStore(new SqlWebSessionStore(database), () => now, LIMITS);
      replicaB = new SessionStore(new SqlWebSessionStore(database), () => now, LIMITS);
    });
    after(async () => {
      await metadata.close();
      await dispose();
    });

    it('when a browser logs in on one replica, then another knows its session, principal and CSRF token; the cookie itself is not stored', async () => {
      const session = await replicaA.create(alice, { mustChangePassword: true, operator: false });
      const seen = await replicaB.get(session.id);
      assert.deepEqual(seen?.principal, alice);
      assert.equal(seen?.csrf, session.csrf);
      assert.equal(seen?.mustChangePassword, true);
      assert.equal(seen?.operator, false);
      assert.ok(SessionStore.csrfMatches(seen!, session.csrf));
      assert.ok(!SessionStore.csrfMatches(seen!, `${session.csrf.slice(0, -1)}x`));
      const stored = await database.all<{ id_hash: string }>('SELECT id_hash FROM web_sessions');
      assert.ok(stored.length > 0 && stored.every((row) => row.id_hash !== session.id));
      assert.equal(await replicaB.get('not-a-session'), undefined);
    });

    it('when a session is used, then it lives on past the idle limit; unused, it ends; and never past the absolute limit', async () => {
      const used = await replicaA.create(alice, { mustChangePassword: false, operator: false });
      const unused = await replicaA.create(bob, { mustChangePassword: false, operator: false });
      const createdAt = now;
      for (let use = 0; now - createdAt < LIMITS.absoluteMs - 20 * MINUTE; use += 1) {
        now += 20 * MINUTE;
        assert.ok(await (use % 2 === 0 ? replicaA : replicaB).get(used.id), `alive at ${(now - createdAt) / MINUTE} min`);
      }
      assert.equal(await replicaB.get(unused.id), undefined, 'idle for far longer than 30 min');
      now = createdAt + LIMITS.absoluteMs + 1;
      assert.equal(await replicaA.get(used.id), undefined, 'past 12 h since login');
    });

    it('when a user logs out, or their password changes, then their sessions end on every replica and others stay', async () => {
      const first = await replicaA.create(alice, { mustChangePassword: false, operator: false });
      const second = await replicaB.create(alice, { mustChangePassword: false, operator: false });
      const other = await replicaA.create(bob, { mustChangePassword: false, operator: false });
      await replicaB.end(first.id);
      assert.equal(await replicaA.get(first.id), undefined);
      assert.ok(await replicaA.get(second.id));
      await replicaA.endAllOf('alice');
      assert.equal(await replicaB.get(second.id), undefined);
      assert.ok(await replicaB.get(other.id));
    });

    it('when a session is created, then expired ones are swept from the database', async () => {
      const stale = await replicaA.create(bob, { mustChangePassword: false, operator: true });
      now += LIMITS.idleMs + 1;
      await replicaB.create(alice, { mustChangePassword: false, operator: false });
      const remaining = await database.all<{ last_used_at: number }>('SELECT last_used_at FROM web_sessions');
      assert.ok(remaining.every((row) => now - Number(row.last_used_at) <= LIMITS.idleMs), JSON.stringify(remaining));
      assert.equal(await replicaA.get(stale.id), undefined);
    });
  });
}
