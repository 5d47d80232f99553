import assert from 'node:assert/strict';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TASKS } from '../../src/core/time.js';
import { startInProcess } from '../support/in-process.js';
import { OciClient, errorCode } from '../support/oci-client.js';
import { ManualClock, ManualScheduler } from '../support/time.js';

const MINUTE = 60_000;

/** Whether the upload's data file is in storage (the session id is the last segment of its location). */
async function uploadDataExists(dataDir: string, location: string): Promise<boolean> {
  const id = new URL(location, 'http://x').pathname.split('/').at(-1)!;
  return stat(join(dataDir, 'storage', 'v1', 'uploads', id.slice(0, 2), id)).then(() => true, () => false);
}

describe('maintenance and health', () => {
  it('when upload purging is due, then stale sessions and their data are removed while fresh ones stay', async () => {
    const clock = new ManualClock();
    const scheduler = new ManualScheduler();
    const registry = await startInProcess({ storage: { maintenance: { uploadpurging: { enabled: true, age: '1h', interval: '10m' } } } }, undefined, { clock: clock.now, scheduler });
    try {
      const client = new OciClient(registry.url);
      const stale = await client.startUpload('purge');
      assert.equal((await client.request(stale, { method: 'PATCH', body: 'stale data' })).status, 202);
      clock.advance(30 * MINUTE);
      const fresh = await client.startUpload('purge');
      clock.advance(30 * MINUTE + 1);
      assert.ok(await uploadDataExists(registry.dataDir, stale));

      await scheduler.run(TASKS.uploadPurge);
      assert.equal(await errorCode(await client.request(stale)), 'BLOB_UPLOAD_UNKNOWN');
      assert.equal(await uploadDataExists(registry.dataDir, stale), false);
      assert.equal((await client.request(fresh)).status, 204);
    } finally {
      await registry.destroy();
    }
  });

  it('when upload purging is a dry run, then nothing is removed', async () => {
    const clock = new ManualClock();
    const scheduler = new ManualScheduler();
    const registry = await startInProcess({ storage: { maintenance: { uploadpurging: { enabled: true, age: '1h', interval: '10m', dryrun: true } } } }, undefined, { clock: clock.now, scheduler });
    try {
      const client = new OciClient(registry.url);
      const location = await client.startUpload('dry');
      assert.equal((await client.request(location, { method: 'PATCH', body: 'kept data' })).status, 202);
      clock.advance(2 * 60 * MINUTE);
      await scheduler.run(TASKS.uploadPurge);
      assert.equal((await client.request(location)).status, 204);
      assert.ok(await uploadDataExists(registry.dataDir, location));
    } finally {
      await registry.destroy();
    }
  });

  it('when the registry is read-only, then reads work and every write is UNSUPPORTED', async () => {
    const seed = await startInProcess();
    const { digest } = await new OciClient(seed.url).pushImage('ro', 'v1');
    await seed.close();
    const registry = await startInProcess({ storage: { maintenance: { readonly: { enabled: true } } } }, seed.dataDir);
    try {
      const client = new OciClient(registry.url);
      assert.equal((await client.request('/v2/ro/manifests/v1')).status, 200);
      const writes: [string, string][] = [
        ['POST', '/v2/ro/blobs/uploads/'],
        ['PUT', '/v2/ro/manifests/v2'],
        ['DELETE', `/v2/ro/manifests/${digest}`],
      ];
      for (const [method, path] of writes) {
        const response = await client.request(path, { method, body: method === 'PUT' ? '{}' : undefined, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
        assert.equal(response.status, 405, `${method} ${path}`);
        assert.equal(await errorCode(response), 'UNSUPPORTED');
      }
    } finally {
      await registry.destroy();
    }
  });

  it('when the storage driver fails its health checks past the threshold, then /v2 answers 503 until it recovers', async () => {
    const scheduler = new ManualScheduler();
    const registry = await startInProcess({ health: { storagedriver: { enabled: true, interval: '10s', threshold: 2 } } }, undefined, { scheduler });
    const client = new OciClient(registry.url);
    const v1 = join(registry.dataDir, 'storage', 'v1');
    try {
      await client.pushBlob('health', 'x');
      await rename(v1, `${v1}.away`);
      await writeFile(v1, 'not a directory');
      await scheduler.run(TASKS.storageHealth);
      await scheduler.run(TASKS.storageHealth);
      assert.equal((await client.request('/v2/')).status, 503);
      assert.equal(await errorCode(await client.request('/v2/health/tags/list')), 'UNAVAILABLE');
      const health = await client.request('/health');
      assert.equal(health.status, 503);
      const body = (await health.json()) as { checks: { storagedriver: { ok: boolean; lastError: string } } };
      assert.equal(body.checks.storagedriver.ok, false);
      await rm(v1);
      await rename(`${v1}.away`, v1);
      await scheduler.run(TASKS.storageHealth);
      assert.equal((await client.request('/v2/')).status, 200);
    } finally {
      await registry.destroy();
    }
  });
});
