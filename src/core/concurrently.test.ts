import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachConcurrently } from './concurrently.js';

/** A task per item that finishes when the test says so. */
function gatedWork() {
  const gates = new Map<number, () => void>();
  let inFlight = 0;
  let peak = 0;
  const started: number[] = [];
  const work = (item: number) => {
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    started.push(item);
    return new Promise<void>((resolve) => gates.set(item, () => { inFlight -= 1; resolve(); }));
  };
  return { work, gates, started, peak: () => peak };
}

async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn += 1) await Promise.resolve();
}

describe('forEachConcurrently', () => {
  it('when one item finishes, then the next starts at once, never more than the limit at a time', async () => {
    const { work, gates, started, peak } = gatedWork();
    const done = forEachConcurrently([1, 2, 3, 4, 5], 2, work);
    await settle();
    assert.deepEqual(started, [1, 2]);
    gates.get(2)!();
    await settle();
    assert.deepEqual(started, [1, 2, 3], 'a freed slot starts the next item while the first still runs');
    for (const item of [1, 3, 4, 5]) {
      await settle();
      gates.get(item)!();
    }
    await done;
    assert.deepEqual(started, [1, 2, 3, 4, 5]);
    assert.equal(peak(), 2);
  });

  it('when an item fails, then no further item starts and the failure is thrown once the started ones have settled', async () => {
    const { work, gates, started } = gatedWork();
    let settled = false;
    const done = forEachConcurrently([1, 2, 3, 4], 2, async (item) => {
      if (item === 1) throw new Error('item 1 failed');
      await work(item);
    }).finally(() => (settled = true));
    await settle();
    assert.deepEqual(started, [2], 'the failed item\'s slot starts nothing more');
    assert.equal(settled, false, 'item 2 is still running');
    gates.get(2)!();
    await assert.rejects(done, /item 1 failed/);
    assert.deepEqual(started, [2]);
  });

  it('when there are no items, then it resolves without calling the work', async () => {
    await forEachConcurrently([], 4, () => assert.fail('called'));
  });
});
