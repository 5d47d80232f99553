import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, startWithClient, type TestRegistry } from '../support/in-process.js';
import { OciClient, sha256 } from '../support/oci-client.js';
import { CLI } from '../support/server.js';
import { AuthorizedClient, basic, htpasswdEntry } from './auth-support.js';

interface GcReport {
  dryRun: boolean;
  details: { blobs: { digest: string }[] };
  bytesFreed: number;
}

describe('lifecycle API without access control', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => ({ registry, client } = await startWithClient()));
  after(() => registry.destroy());

  it('when a loopback client asks for a collection, then it runs now and returns the report; a dry run changes nothing', async () => {
    const image = await client.pushImage('api/app', 'v1', ['api-layer-one', 'api-layer-two']);
    await client.request(`/v2/api/app/manifests/${image.digest}`, { method: 'DELETE' });
    const preview = await client.request('/api/v1/gc?dryRun=true', { method: 'POST' });
    assert.equal(preview.status, 200);
    const previewed = (await preview.json()) as GcReport;
    assert.equal(previewed.dryRun, true);
    // The default 1h grace protects only pushes in progress: the deleted image's layers, config and manifest all go.
    const config = (image.manifest.config as { digest: string; size: number });
    const expected = [image.digest, config.digest, sha256('api-layer-one'), sha256('api-layer-two')].sort();
    assert.deepEqual(previewed.details.blobs.map((blob) => blob.digest).sort(), expected);
    const again = (await (await client.request('/api/v1/gc?dryRun=true', { method: 'POST' })).json()) as GcReport;
    assert.deepEqual(again.details.blobs, previewed.details.blobs, 'the dry run removed nothing');

    const real = (await (await client.request('/api/v1/gc', { method: 'POST' })).json()) as GcReport;
    assert.equal(real.dryRun, false);
    assert.equal(real.bytesFreed, image.body.length + config.size + 'api-layer-one'.length + 'api-layer-two'.length);
  });

  it('when usage is asked for, then each repository reports its bytes', async () => {
    await client.pushBlob('api/usage', 'x'.repeat(1000));
    const body = (await (await client.request('/api/v1/usage')).json()) as { repositories: { repository: string; bytes: number }[] };
    assert.equal(body.repositories.find((row) => row.repository === 'api/usage')?.bytes, 1000);
  });

  it('when the wrong method is used, then UNSUPPORTED in the admin envelope', async () => {
    const response = await client.request('/api/v1/gc');
    assert.equal(response.status, 405);
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
