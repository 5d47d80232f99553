import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { nativeSessionDigests, portableSessionDigests } from './resumable-digest.js';

const sha256 = (...parts: Buffer[]) => `sha256:${createHash('sha256').update(Buffer.concat(parts)).digest('hex')}`;

describe('session digests', () => {
  for (const digests of [nativeSessionDigests, portableSessionDigests]) {
    it(`${digests.kind}: when chunks are hashed, then the digest matches sha256 of them all, and asking for it keeps the running state`, async () => {
      const [a, b] = [randomBytes(70_000), randomBytes(3)];
      const digest = await digests.create();
      digest.update(a);
      assert.equal(digest.digest(), sha256(a));
      digest.update(b);
      assert.equal(digest.digest(), sha256(a, b));
      assert.equal(digest.size, a.length + b.length);
    });
  }

  it('portable: when the state is saved and restored elsewhere, then hashing goes on as if never interrupted', async () => {
    const [a, b] = [randomBytes(100_001), randomBytes(12_345)];
    const first = await portableSessionDigests.create();
    first.update(a);
    const saved = first.save();
    assert.ok(saved);
    const resumed = await portableSessionDigests.restore(Uint8Array.from(saved), a.length);
    assert.ok(resumed);
    resumed.update(b);
    assert.equal(resumed.digest(), sha256(a, b));
    assert.equal(resumed.size, a.length + b.length);
  });

  it('when a state is not one this kind understands, then restore declines and native saves nothing', async () => {
    assert.equal(await portableSessionDigests.restore(new Uint8Array([99, 1, 2]), 0), undefined);
    assert.equal(await portableSessionDigests.restore(new Uint8Array([1, 1, 2]), 0), undefined);
    assert.equal((await nativeSessionDigests.create()).save(), undefined);
    assert.equal(await nativeSessionDigests.restore(new Uint8Array([1]), 0), undefined);
  });
});
