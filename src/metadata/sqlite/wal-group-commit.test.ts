import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WalGroupCommit } from './wal-group-commit.js';

/** A sync whose rounds the test ends by hand, recording when each began. */
function manualSync() {
  const rounds: Array<{ finish: (error?: Error) => void }> = [];
  const sync = () =>
    new Promise<void>((resolve, reject) => {
      rounds.push({ finish: (error) => (error ? reject(error) : resolve()) });
    });
  return { rounds, sync };
}

/** Lets settled promises run their callbacks. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('WAL group commit', () => {
  it('when commits wait while a sync runs, then they share one sync that starts after it', async () => {
    const { rounds, sync } = manualSync();
    const group = new WalGroupCommit(sync);
    const done: string[] = [];
    const first = group.durable().then(() => done.push('first'));
    const later = Array.from({ length: 5 }, (_, i) => group.durable().then(() => done.push(`later${i}`)));
    assert.equal(rounds.length, 1);

    rounds[0]!.finish();
    await first;
    await settle();
    // The first round may have begun before the later commits were written: they are not durable yet.
    assert.deepEqual(done, ['first']);
    assert.equal(rounds.length, 2);

    rounds[1]!.finish();
    await Promise.all(later);
    assert.equal(done.length, 6);
    assert.equal(rounds.length, 2);
  });

  it('when nothing waits, then a commit gets its own sync at once', async () => {
    const { rounds, sync } = manualSync();
    const group = new WalGroupCommit(sync);
    const one = group.durable();
    rounds[0]!.finish();
    await one;
    const two = group.durable();
    assert.equal(rounds.length, 2);
    rounds[1]!.finish();
    await two;
  });

  it('when a sync fails, then its waiters fail and the next commits get a fresh sync', async () => {
    const { rounds, sync } = manualSync();
    const group = new WalGroupCommit(sync);
    const failing = group.durable();
    const queued = group.durable();
    rounds[0]!.finish(new Error('EIO'));
    await assert.rejects(failing, /EIO/);
    await settle();
    assert.equal(rounds.length, 2, 'the queued commit waits for a sync of its own, not the failed one');
    rounds[1]!.finish();
    await queued;
  });
});
