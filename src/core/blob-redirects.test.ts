import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../oci/digest.js';
import { INLINE_BLOB_MAX_BYTES } from '../storage/blob-store.js';
import type { StorageDriver } from '../storage/driver.js';
import { layout } from '../storage/layout.js';
import { presignedBlobRedirects, REDIRECT_REUSE_SECONDS, REDIRECT_SECONDS } from './blob-redirects.js';

const LAYER = 1024 * 1024;
const stored = { digest: `sha256:${'a'.repeat(64)}` as Digest, size: LAYER };
const missing = { digest: `sha256:${'b'.repeat(64)}` as Digest, size: LAYER };

/** A driver that holds `stored` only and numbers its signatures, counting what it was asked. */
function countingDriver() {
  const calls = { stat: 0, presign: 0, expiries: [] as number[] };
  const driver = {
    stat: async (key: string) => {
      calls.stat += 1;
      return key === layout.blob(stored.digest) ? { size: LAYER, modifiedAt: new Date(0) } : undefined;
    },
    presignGet: async (key: string, expiresInSeconds: number) => {
      calls.presign += 1;
      calls.expiries.push(expiresInSeconds);
      return `https://store.example/${key}?signature=${calls.presign}`;
    },
  } as unknown as StorageDriver;
  return { driver, calls };
}

describe('presigned blob redirects', () => {
  it('when a blob is located again within the reuse window, then the same URL is handed out without asking the store', async () => {
    const { driver, calls } = countingDriver();
    let now = 1_000_000;
    const redirects = presignedBlobRedirects(driver, { disabled: false }, () => now)!;
    const first = await redirects.locate(stored);
    now += REDIRECT_REUSE_SECONDS * 1000 - 1;
    assert.equal(await redirects.locate(stored), first);
    assert.deepEqual({ stat: calls.stat, presign: calls.presign }, { stat: 1, presign: 1 });
    assert.deepEqual(calls.expiries, [REDIRECT_SECONDS]);
    assert.ok(REDIRECT_SECONDS - REDIRECT_REUSE_SECONDS >= 10 * 60, 'a reused URL keeps most of its validity');
  });

  it('when the reuse window has passed, then the store is asked again and a fresh URL signed', async () => {
    const { driver, calls } = countingDriver();
    let now = 1_000_000;
    const redirects = presignedBlobRedirects(driver, { disabled: false }, () => now)!;
    const first = await redirects.locate(stored);
    now += REDIRECT_REUSE_SECONDS * 1000;
    const second = await redirects.locate(stored);
    assert.notEqual(second, first);
    assert.deepEqual({ stat: calls.stat, presign: calls.presign }, { stat: 2, presign: 2 });
  });

  it('when the store does not hold the blob, then there is no URL, and the next request asks again', async () => {
    const { driver, calls } = countingDriver();
    const redirects = presignedBlobRedirects(driver, { disabled: false }, () => 0)!;
    assert.equal(await redirects.locate(missing), undefined);
    assert.equal(await redirects.locate(missing), undefined);
    assert.deepEqual({ stat: calls.stat, presign: calls.presign }, { stat: 2, presign: 0 });
  });

  it('when a blob is small enough to be kept in its row, then it is served here: no store request, no URL', async () => {
    const { driver, calls } = countingDriver();
    const redirects = presignedBlobRedirects(driver, { disabled: false }, () => 0)!;
    assert.equal(await redirects.locate({ digest: stored.digest, size: INLINE_BLOB_MAX_BYTES }), undefined);
    assert.deepEqual({ stat: calls.stat, presign: calls.presign }, { stat: 0, presign: 0 });
    assert.ok(await redirects.locate({ digest: stored.digest, size: INLINE_BLOB_MAX_BYTES + 1 }), 'one byte more is redirected');
  });
});
