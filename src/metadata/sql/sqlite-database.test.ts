import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteDatabase } from './sqlite-database.js';

describe('SQLite database: idle checkpoints', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('when writes pause, then the WAL is checkpointed into the database file in the pause, every page of it', async () => {
    const db = new SqliteDatabase(join(dir, 'idle.sqlite'), 50);
    try {
      await db.exec('CREATE TABLE t (v BLOB)');
      const checkpoints: { log: number; checkpointed: number }[] = [];
      const covered = new Promise<{ log: number; checkpointed: number }>((resolve) => {
        db.onCheckpoint = (result) => {
          checkpoints.push(result);
          if (result.log >= 200) resolve(result);
        };
      });
      // 200 pages and more, in a burst of commits: none of them waits for a checkpoint.
      for (let batch = 0; batch < 10; batch += 1) {
        await db.transaction(async (tx) => {
          for (let row = 0; row < 20; row += 1) await tx.run('INSERT INTO t (v) VALUES (?)', [randomBytes(4096)]);
        });
      }
      const result = await covered;
      assert.equal(result.checkpointed, result.log, 'every frame of the WAL reached the database file');
      assert.ok(checkpoints.length <= 2, `one checkpoint after the burst (and perhaps one after the table), not one per commit: ${JSON.stringify(checkpoints)}`);
      assert.equal((await db.get<{ rows: number }>('SELECT count(*) AS rows FROM t'))!.rows, 200);
    } finally {
      await db.close();
    }
  });
});
