import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UnknownRoleError, type AccessStore } from '../../src/auth/access-store.js';
import type { SqlDatabase } from '../../src/metadata/sql/database.js';
import { SqlAccessStore } from '../../src/metadata/sql/sql-access-store.js';
import { SqlMetadataStore } from '../../src/metadata/sql/sql-store.js';
import { SqliteDatabase } from '../../src/metadata/sql/sqlite-database.js';
import { postgresForThisFile } from '../support/postgres.js';

/** The suite every AccessStore passes, on each database the metadata lives in. */
interface AccessFactory {
  name: string;
  /** A migrated database, and how to remove it. */
  create(): Promise<{ database: SqlDatabase; dispose(): Promise<void> }>;
}

const postgres = postgresForThisFile();

const factories: AccessFactory[] = [
  {
    name: 'sqlite',
    async create() {
      const dir = await mkdtemp(join(tmpdir(), 'berth-access-'));
      return { database: new SqliteDatabase(join(dir, 'berth.sqlite')), dispose: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgresql',
    async create() {
      return { database: postgres().open(await postgres().createDatabase('access')), dispose: async () => {} };
    },
  },
];

for (const factory of factories) {
  describe(`AccessStore contract: ${factory.name}`, () => {
    let store: AccessStore;
    let metadata: SqlMetadataStore;
    let dispose: () => Promise<void>;
    let now = 1_000;
    before(async () => {
      const created = await factory.create();
      dispose = created.dispose;
      metadata = await SqlMetadataStore.open(created.database);
      store = new SqlAccessStore(created.database, () => now);
    });
    after(async () => {
      await store.close();
      await metadata.close();
      await dispose();
    });

    it('when the schema is new, then the built-in roles exist: admin with admin on *, anonymous with nothing', async () => {
      assert.deepEqual(await store.listRoles(), [
        { name: 'admin', description: 'everything, including user and role management', permissions: [{ pattern: '*', actions: ['admin'] }] },
        { name: 'anonymous', description: 'what clients without credentials may pull (pull only)', permissions: [] },
      ]);
      assert.deepEqual(await store.permissionsOfRole('anonymous'), []);
    });

    it('when users are put, then created is reported once, the hash is replaced, and they list by name', async () => {
      assert.equal(await store.putUser('bob', '$2y$05$bob'), true);
      now += 1;
      assert.equal(await store.putUser('alice', '$2y$05$alice'), true);
      now += 1;
      assert.equal(await store.putUser('bob', '$2y$05$bob-2'), false);
      assert.deepEqual(await store.getUser('bob'), { name: 'bob', passwordHash: '$2y$05$bob-2', roles: [], createdAt: 1_000, updatedAt: 1_002 });
      assert.deepEqual((await store.listUsers()).map((user) => user.name), ['alice', 'bob']);
      assert.equal(await store.getUser('carol'), undefined);
    });

    it('when roles are put and given to users, then permissions follow them; an unknown role changes nothing', async () => {
      assert.equal(await store.putRole({ name: 'devs', description: 'developers', permissions: [{ pattern: 'team-a/*', actions: ['pull', 'push'] }, { pattern: 'shared', actions: ['pull'] }] }), true);
      assert.equal(await store.putRole({ name: 'devs', description: 'the developers', permissions: [{ pattern: 'team-a/*', actions: ['pull', 'push', 'delete'] }] }), false);
      assert.deepEqual(await store.getRole('devs'), { name: 'devs', description: 'the developers', permissions: [{ pattern: 'team-a/*', actions: ['pull', 'push', 'delete'] }] });
      now += 1;
      assert.equal(await store.setUserRoles('alice', ['devs', 'admin', 'devs']), true);
      assert.deepEqual((await store.getUser('alice'))?.roles, ['admin', 'devs']);
      assert.equal((await store.getUser('alice'))?.updatedAt, now);
      assert.deepEqual(await store.permissionsOf('alice'), [{ pattern: '*', actions: ['admin'] }, { pattern: 'team-a/*', actions: ['pull', 'push', 'delete'] }]);
      await assert.rejects(store.setUserRoles('alice', ['devs', 'missing']), (error) => error instanceof UnknownRoleError && error.role === 'missing');
      assert.deepEqual((await store.getUser('alice'))?.roles, ['admin', 'devs'], 'the failed change was rolled back');
      assert.equal(await store.setUserRoles('nobody', ['devs']), false);
    });

    it('when users and roles are deleted, then they and their grants are gone', async () => {
      assert.equal(await store.deleteRole('devs'), true);
      assert.equal(await store.deleteRole('devs'), false);
      assert.deepEqual((await store.getUser('alice'))?.roles, ['admin']);
      assert.equal(await store.deleteUser('alice'), true);
      assert.equal(await store.deleteUser('alice'), false);
      assert.deepEqual(await store.permissionsOf('alice'), []);
    });
  });
}
