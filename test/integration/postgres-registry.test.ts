import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { OciClient } from '../support/oci-client.js';
import { startPostgres, type RunningPostgres } from '../support/postgres.js';

/** The whole registry on PostgreSQL metadata (database.enabled), through HTTP. */
describe('a registry on PostgreSQL', () => {
  let postgres: RunningPostgres;
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => {
    postgres = await startPostgres();
    const settings = await postgres.createDatabase('registry');
    registry = await startInProcess({
      database: { enabled: true, host: '127.0.0.1', port: postgres.port, user: 'postgres', dbname: settings.database, sslmode: 'disable', pool: { maxopen: 4 } },
      auth: { accounts: {} },
    });
    client = new OciClient(registry.url);
  });
  after(async () => {
    await registry?.destroy();
    await postgres?.stop();
  });

  it('when an image is pushed, then it is listed and pulled; deleted and collected, its blobs go', async () => {
    const password = (await readFile(join(registry.dataDir, 'storage', 'admin-password'), 'utf8')).trim();
    const authorization = `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
    const authed = new OciClient(registry.url);
    const request = authed.request.bind(authed);
    authed.request = (path, init = {}) => request(path, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: authorization } });
    assert.equal((await client.request('/v2/_catalog')).status, 401, 'users and roles live in PostgreSQL too');

    const { digest, manifest: pushed } = await authed.pushImage('team/app', 'v1', ['pg-layer-a', 'pg-layer-b']);
    const layer = (pushed.layers as { digest: string }[])[0]!.digest;
    const manifest = await authed.request('/v2/team/app/manifests/v1', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await (await authed.request('/v2/_catalog')).json(), { repositories: ['team/app'] });
    assert.deepEqual(await (await authed.request('/v2/team/app/tags/list')).json(), { name: 'team/app', tags: ['v1'] });

    assert.equal((await authed.request(`/v2/team/app/manifests/${digest}`, { method: 'DELETE' })).status, 202);
    const report = await registry.app.collector.collect({ dryRun: false, deleteUntagged: false, graceMs: 0 });
    assert.equal(report.removed.blobs, 4, 'two layers, the config and the manifest');
    assert.equal((await authed.request(`/v2/team/app/blobs/${layer}`, { method: 'HEAD' })).status, 404);
    assert.deepEqual(await (await authed.request('/v2/_catalog')).json(), { repositories: [] });
  });
});
