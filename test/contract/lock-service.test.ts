import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { KeyedMutex } from '../../src/core/keyed-mutex.js';
import type { LockService } from '../../src/core/locks.js';
import { PostgresLockService } from '../../src/metadata/postgres/postgres-locks.js';
import { RegistryError } from '../../src/oci/errors.js';
import { postgresForThisFile } from '../support/postgres.js';
import { waitFor } from '../support/time.js';

/** Two replicas' lock services on one coordination point (the embedded one: one process, one service). */
interface LockFactory {
  name: string;
  create(): Promise<{ first: LockService; second: LockService; close(): Promise<void> }>;
}

const postgres = postgresForThisFile();
let database: Promise<pg.PoolConfig> | undefined;
/** The file's database for locks, made on first use. */
const lockDatabase = () => (database ??= postgres().createDatabase('locks'));

const factories: LockFactory[] = [
  {
    name: 'embedded (KeyedMutex)',
    async create() {
      const mutex = new KeyedMutex();
      return { first: mutex, second: mutex, close: async () => {} };
    },
  },
  {
    name: 'postgresql (advisory locks, two pools)',
    async create() {
      const settings = await lockDatabase();
      const first = new PostgresLockService(new pg.Pool({ ...settings, max: 4 }));
      const second = new PostgresLockService(new pg.Pool({ ...settings, max: 4 }));
      return { first, second, close: async () => void (await Promise.all([first.close(), second.close()])) };
    },
  },
];

/**
 * Holds the section open a while, so that a section the lock failed to keep out would be
 * inside at the same time (the assertions hold whatever the timing when the lock works).
 */
const stayInside = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A section that counts how many copies of it were inside at once (`most`) and how many finished. */
function overlapProbe() {
  const probe = {
    inside: 0,
    most: 0,
    done: 0,
    section: async () => {
      probe.inside += 1;
      probe.most = Math.max(probe.most, probe.inside);
      await stayInside(5);
      probe.inside -= 1;
      probe.done += 1;
    },
  };
  return probe;
}

/** Rejects if `promise` has not settled within `ms`: a deadlock fails the test instead of hanging it. */
const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms).unref())]);

for (const factory of factories) {
  describe(`LockService contract: ${factory.name}`, () => {
    let first: LockService;
    let second: LockService;
    let close: () => Promise<void>;
    before(async () => ({ first, second, close } = await factory.create()));
    after(() => close());

    it('when sections on one key run from both replicas, then never two at once', async () => {
      const probe = overlapProbe();
      await within(Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 ? first : second).run('digest:one', probe.section))), 20_000, 'the sections');
      assert.equal(probe.done, 20);
      assert.equal(probe.most, 1);
    });

    it('when sections hold different keys, then they run at the same time', async () => {
      let bInside!: () => void;
      const bEntered = new Promise<void>((resolve) => (bInside = resolve));
      await within(
        Promise.all([first.run('key:a', () => bEntered), second.run('key:b', async () => bInside())]),
        10_000,
        'a section waiting for another key',
      );
    });

    it('when replicas take the same keys in opposite orders with runAll, then none deadlocks and each set is exclusive', async () => {
      // One probe per key: a section holding both keys is inside both; the single-key sections
      // on x and on y may rightly run at the same time as each other.
      const onX = overlapProbe();
      const onY = overlapProbe();
      const both = async (): Promise<void> => {
        await Promise.all([onX.section(), onY.section()]);
      };
      const runs = Array.from({ length: 10 }, (_, index) =>
        index % 2 ? first.runAll(['x', 'y', 'x'], both) : second.runAll(['y', 'x'], both),
      );
      runs.push(first.run('y', onY.section), second.run('x', onX.section));
      await within(Promise.all(runs), 20_000, 'the runAll sections');
      assert.deepEqual([onX.done, onY.done], [11, 11]);
      assert.deepEqual([onX.most, onY.most], [1, 1]);
    });

    it('when shared sections hold one key from both replicas, then they run at the same time', async () => {
      let bInside!: () => void;
      const bEntered = new Promise<void>((resolve) => (bInside = resolve));
      await within(
        Promise.all([first.runShared('digest:shared', () => bEntered), second.runShared('digest:shared', async () => bInside())]),
        10_000,
        'a shared section waiting for another shared one',
      );
    });

    it('when shared and exclusive sections mix on one key, then an exclusive one is always alone', async () => {
      let shared = 0;
      let exclusive = 0;
      const overlaps: string[] = [];
      const sharedSection = async () => {
        shared += 1;
        if (exclusive > 0) overlaps.push('shared beside exclusive');
        await stayInside(3);
        shared -= 1;
      };
      const exclusiveSection = async () => {
        exclusive += 1;
        if (exclusive > 1 || shared > 0) overlaps.push(`exclusive beside ${shared} shared, ${exclusive - 1} exclusive`);
        await stayInside(3);
        exclusive -= 1;
      };
      const runs = Array.from({ length: 24 }, (_, index) => {
        const service = index % 2 ? first : second;
        return index % 4 === 3 ? service.run('digest:mixed', exclusiveSection) : service.runShared('digest:mixed', sharedSection);
      });
      await within(Promise.all(runs), 30_000, 'the mixed sections');
      assert.deepEqual(overlaps, []);
    });

    it('when a section throws, then its error comes back and the key is free again', async () => {
      await assert.rejects(first.run('failing', async () => Promise.reject(new Error('section failed'))), /section failed/);
      assert.equal(await within(second.run('failing', async () => 'ran'), 10_000, 'the next section'), 'ran');
    });
  });
}

describe('LockService on PostgreSQL: a replica that dies', () => {
  it('when the connection holding a lock is killed, then the other replica gets it and the holder learns it was lost', async () => {
    const settings = await lockDatabase();
    const holderPool = new pg.Pool({ ...settings, max: 2 });
    const holder = new PostgresLockService(holderPool);
    const other = new PostgresLockService(new pg.Pool({ ...settings, max: 2 }));
    const admin = new pg.Client(settings);
    await admin.connect();
    try {
      let entered!: () => void;
      const inSection = new Promise<void>((resolve) => (entered = resolve));
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => (finish = resolve));
      const holding = holder.run('digest:killed', async () => {
        entered();
        await finished;
        return 'done';
      });
      await inSection;
      let otherRan = false;
      const waiting = other.run('digest:killed', async () => void (otherRan = true));
      const backends = async () => (await admin.query<{ pid: number }>("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")).rows.map((row) => row.pid);
      await waitFor(async () => (await backends()).length === 1, 5_000, 'the advisory lock to be held');
      assert.equal(otherRan, false, 'the other replica waits while the lock is held');

      await admin.query('SELECT pg_terminate_backend($1)', [(await backends())[0]]);
      await within(waiting, 10_000, "the other replica's section");
      assert.equal(otherRan, true);
      finish();
      await assert.rejects(holding, (error) => error instanceof RegistryError && error.code === 'UNAVAILABLE');
    } finally {
      await admin.end();
      await holder.close();
      await other.close();
    }
  });
});

describe('KeyedMutex: arrival order', () => {
  it('when an exclusive section waits for shared ones, then shared sections that come after it wait behind it', async () => {
    const mutex = new KeyedMutex();
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = mutex.runShared('k', () => new Promise<void>((resolve) => (releaseFirst = resolve)).then(() => void order.push('shared 1')));
    const exclusive = mutex.run('k', async () => void order.push('exclusive'));
    const later = mutex.runShared('k', async () => void order.push('shared 2'));
    releaseFirst();
    await Promise.all([first, exclusive, later]);
    assert.deepEqual(order, ['shared 1', 'exclusive', 'shared 2']);
  });
});
