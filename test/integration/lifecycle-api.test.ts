import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, startWithClient, type TestRegistry } from '../support/in-process.js';
import { OciClient } from '../support/oci-client.js';
import { CLI } from '../support/server.js';
import { AuthorizedClient, basic, htpasswdEntry } from './auth-support.js';

interface GcReport {
  dryRun: boolean;
  bytesFreed: number;
  removed: { blobs: number };
  details?: { blobs: { digest: string }[] };
}

describe('lifecycle API without access control', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => ({ registry, client } = await startWithClient()));
  after(() => registry.destroy());

  it('when a loopback client asks for a collection, then it runs now and returns the report; a dry run changes nothing', async () => {
    const image = await client.pushImage('api/app', 'v1', ['api-layer-one', 'api-layer-two']);
    await client.request(`/v2/api/app/manifests/${image.digest}`, { method: 'DELETE' });
    const preview = await client.request('/api/v1/gc?dryRun=true&details=true', { method: 'POST' });
    assert.equal(preview.status, 200);
    const previewed = (await preview.json()) as GcReport;
    assert.equal(previewed.dryRun, true);
    // The delete left the manifest, its config and its layers unreferenced (nothing touched them since).
    const manifest = image.manifest as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
    const content = [manifest.config, ...manifest.layers, { digest: image.digest, size: image.body.length }].map(({ digest, size }) => ({ digest, size })).sort((a, b) => a.digest.localeCompare(b.digest));
    assert.deepEqual(previewed.details!.blobs.map((blob) => blob.digest).sort(), content.map((blob) => blob.digest));
    const again = (await (await client.request('/api/v1/gc?dryRun=true&details=true', { method: 'POST' })).json()) as GcReport;
    assert.deepEqual(again.details!.blobs, previewed.details!.blobs, 'the dry run removed nothing');

    const real = (await (await client.request('/api/v1/gc', { method: 'POST' })).json()) as GcReport;
    assert.equal(real.dryRun, false);
    assert.equal(real.bytesFreed, content.reduce((sum, blob) => sum + blob.size, 0));
    assert.equal(real.details, undefined, 'the summary by default; details on request');

    const pageOf = async (offset: number) => (await (await client.request(`/api/v1/gc/last?list=blobs&offset=${offset}&limit=3`)).json()) as { total: number; items: { digest: string; size: number }[] };
    const [first, second, beyond] = [await pageOf(0), await pageOf(3), await pageOf(6)];
    assert.equal(first.total, 4);
    assert.deepEqual([...first.items, ...second.items].sort((a, b) => a.digest.localeCompare(b.digest)), content);
    assert.deepEqual(beyond.items, []);
    assert.equal(((await (await client.request('/api/v1/gc/last')).json()) as GcReport).removed.blobs, 4);
    assert.equal((await client.request('/api/v1/gc/last?list=everything')).status, 400);
  });

  it('when usage is asked for, then each repository reports its bytes', async () => {
    await client.pushBlob('api/usage', 'x'.repeat(1000));
    const body = (await (await client.request('/api/v1/usage')).json()) as { repositories: { repository: string; bytes: number }[] };
    assert.equal(body.repositories.find((row) => row.repository === 'api/usage')?.bytes, 1000);
  });

  it('when the wrong method is used, then UNSUPPORTED in the admin envelope, with Allow', async () => {
    const response = await client.request('/api/v1/gc');
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'POST');
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'UNSUPPORTED');
  });
});

describe('lifecycle API with htpasswd', () => {
  let registry: TestRegistry;
  before(async () => {
    const seed = await startInProcess();
    await seed.close();
    const path = join(seed.dataDir, 'htpasswd');
    await writeFile(path, `${htpasswdEntry('operator', 'correct horse', CLI)}\n`);
    registry = await startInProcess({ auth: { htpasswd: { realm: 'berth', path } } }, seed.dataDir);
  });
  after(() => registry.destroy());

  it('when no or wrong credentials are sent, then 401 with a challenge; an operator may run it', async () => {
    const anonymous = await new OciClient(registry.url).request('/api/v1/gc?dryRun=true', { method: 'POST' });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const wrong = await new AuthorizedClient(registry.url, basic('operator', 'wrong')).request('/api/v1/gc?dryRun=true', { method: 'POST' });
    assert.equal(wrong.status, 401);
    const operator = await new AuthorizedClient(registry.url, basic('operator', 'correct horse')).request('/api/v1/gc?dryRun=true', { method: 'POST' });
    assert.equal(operator.status, 200);
    assert.equal(((await operator.json()) as GcReport).dryRun, true);
  });
});
