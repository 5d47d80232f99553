import assert from 'node:assert/strict';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { startInProcess } from '../support/in-process.js';
import { OciClient, errorCode } from '../support/oci-client.js';

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(50);
  }
}

describe('maintenance and health', () => {
  it('when upload purging is due, then stale sessions and their data are removed while fresh ones stay', async () => {
    const registry = await startInProcess({ storage: { maintenance: { uploadpurging: { enabled: true, age: '300ms', interval: '100ms' } } } });
    try {
      const client = new OciClient(registry.url);
      const stale = await client.startUpload('purge');
      await client.request(stale, { method: 'PATCH', body: 'stale data' });
      await eventually(async () => (await client.request(stale)).status === 404);
      assert.equal(await errorCode(await client.request(stale)), 'BLOB_UPLOAD_UNKNOWN');
      const fresh = await client.startUpload('purge');
      assert.equal((await client.request(fresh)).status, 204);
    } finally {
      await registry.destroy();
    }
  });

  it('when upload purging is a dry run, then nothing is removed', async () => {
    const registry = await startInProcess({ storage: { maintenance: { uploadpurging: { enabled: true, age: '100ms', interval: '50ms', dryrun: true } } } });
    try {
      const client = new OciClient(registry.url);
      const location = await client.startUpload('dry');
      await sleep(400);
      assert.equal((await client.request(location)).status, 204);
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
    const registry = await startInProcess({ health: { storagedriver: { enabled: true, interval: '50ms', threshold: 2 } } });
    const client = new OciClient(registry.url);
    const v1 = join(registry.dataDir, 'storage', 'v1');
    try {
      await client.pushBlob('health', 'x');
      await rename(v1, `${v1}.away`);
      await writeFile(v1, 'not a directory');
      await eventually(async () => (await client.request('/v2/')).status === 503);
      assert.equal(await errorCode(await client.request('/v2/health/tags/list')), 'UNAVAILABLE');
      const health = await client.request('/health');
      assert.equal(health.status, 503);
      const body = (await health.json()) as { checks: { storagedriver: { ok: boolean; lastError: string } } };
      assert.equal(body.checks.storagedriver.ok, false);
      await rm(v1);
      await rename(`${v1}.away`, v1);
      await eventually(async () => (await client.request('/v2/')).status === 200);
    } finally {
      await registry.destroy();
    }
  });
});
