import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { OciClient, errorCode, sha256 } from '../support/oci-client.js';
import { CLI } from '../support/server.js';
import { ManualClock } from '../support/time.js';

const run = promisify(execFile);
const KiB = 1024;

async function blobFiles(dataDir: string): Promise<string[]> {
  const entries = await readdir(join(dataDir, 'storage', 'v1'), { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
}

async function deniedMessage(response: Response): Promise<string> {
  assert.equal(response.status, 403);
  const body = (await response.json()) as { errors: { code: string; message: string }[] };
  assert.equal(body.errors[0]!.code, 'DENIED');
  return body.errors[0]!.message;
}

describe('deployment policies', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => {
    const seed = await startInProcess();
    await new OciClient(seed.url).pushImage('frozen/app', 'v1');
    await seed.close();
    registry = await startInProcess(
      {
        policies: [
          { match: 'releases/*', deployment: 'disable-redeploy' },
          { match: 'frozen/*', deployment: 'read-only' },
          { match: '*', deployment: 'allow-redeploy' },
        ],
      },
      seed.dataDir,
    );
    client = new OciClient(registry.url);
  });
  after(() => registry.destroy());

  it('when a tag exists under disable-redeploy, then moving it is DENIED with the reason, re-pushing the same manifest and new tags work', async () => {
    const first = await client.pushImage('releases/app', '1.0', ['release-layer']);
    const moved = await client.putManifest('releases/app', '1.0', JSON.stringify({ ...first.manifest, annotations: { changed: 'yes' } }), 'application/vnd.oci.image.manifest.v1+json');
    assert.match(await deniedMessage(moved), /tag 1\.0 in releases\/app already points at sha256:[0-9a-f]{64}.*disable-redeploy/);
    assert.equal((await client.request('/v2/releases/app/manifests/1.0')).headers.get('docker-content-digest'), first.digest);
    assert.equal((await client.putManifest('releases/app', '1.0', first.body, 'application/vnd.oci.image.manifest.v1+json')).status, 201);
    assert.equal((await client.putManifest('releases/app', '1.1', JSON.stringify({ ...first.manifest, annotations: { changed: 'yes' } }), 'application/vnd.oci.image.manifest.v1+json')).status, 201);
  });

  it('when a repository matches no protecting policy, then tags move freely', async () => {
    await client.pushImage('scratch/app', 'latest', ['one']);
    const second = await client.pushImage('scratch/app', 'latest', ['two']);
    assert.equal((await client.request('/v2/scratch/app/manifests/latest')).headers.get('docker-content-digest'), second.digest);
  });

  it('when a repository is read-only, then pulls work and every push and delete is DENIED', async () => {
    assert.equal((await client.request('/v2/frozen/app/manifests/v1')).status, 200);
    const attempts = [
      client.request('/v2/frozen/app/blobs/uploads/', { method: 'POST' }),
      client.request(`/v2/frozen/app/blobs/uploads/?digest=${sha256('x')}`, { method: 'POST', body: 'x' }),
      client.putManifest('frozen/app', 'v2', '{}', 'application/vnd.oci.image.manifest.v1+json'),
      client.request('/v2/frozen/app/manifests/v1', { method: 'DELETE' }),
    ];
    for (const response of await Promise.all(attempts)) assert.match(await deniedMessage(response), /frozen\/app is read-only/);
  });
});

describe('quotas', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => {
    registry = await startInProcess({
      policies: [
        { match: 'small', quota: { limit: '10KiB' } },
        { match: 'team/*', quota: { limit: 10 * KiB, scope: 'pattern' } },
      ],
    });
    client = new OciClient(registry.url);
  });
  after(() => registry.destroy());

  it('when a blob would take a repository over its quota, then it is DENIED, nothing is stored, and content already counted is free', async () => {
    const a = 'a'.repeat(6 * KiB);
    await client.pushBlob('small', a);
    const b = 'b'.repeat(5 * KiB);
    const before = await blobFiles(registry.dataDir);
    const refused = await client.request(`/v2/small/blobs/uploads/?digest=${sha256(b)}`, { method: 'POST', body: b });
    assert.match(await deniedMessage(refused), /quota exceeded: repository small use 6144 of 10240 bytes and this push needs 5120 more/);
    assert.equal((await client.request(`/v2/small/blobs/${sha256(b)}`, { method: 'HEAD' })).status, 404);
    assert.deepEqual(await blobFiles(registry.dataDir), before);

    const location = await client.startUpload('small');
    await client.request(location, { method: 'PATCH', body: b });
    const chunked = await client.request(`${location}?digest=${sha256(b)}`, { method: 'PUT' });
    assert.equal(chunked.status, 403);
    assert.equal((await client.request(location)).status, 404, 'the refused upload is gone');
    assert.deepEqual(await blobFiles(registry.dataDir), before);

    assert.equal((await client.request(`/v2/small/blobs/uploads/?digest=${sha256(a)}`, { method: 'POST', body: a })).status, 201, 'the same blob again adds nothing');
    await client.pushBlob('elsewhere', b);
    const mount = await client.request(`/v2/small/blobs/uploads/?mount=${sha256(b)}&from=elsewhere`, { method: 'POST' });
    assert.equal(mount.status, 403);
    assert.equal(await errorCode(mount), 'DENIED');
  });

  it('when a manifest would exceed the quota, then it is DENIED and not tagged', async () => {
    const config = await client.pushBlob('small', '{}');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [],
      annotations: { padding: 'p'.repeat(5 * KiB) },
    });
    const response = await client.putManifest('small', 'big', manifest, 'application/vnd.oci.image.manifest.v1+json');
    assert.match(await deniedMessage(response), /quota exceeded/);
    assert.equal((await client.request('/v2/small/manifests/big')).status, 404);
  });

  it('when a quota covers a pattern, then its repositories share it and a shared blob counts once', async () => {
    const shared = 's'.repeat(4 * KiB);
    await client.pushBlob('team/a', shared);
    await client.pushBlob('team/b', shared);
    await client.pushBlob('team/a', 'x'.repeat(4 * KiB));
    const refused = await client.request(`/v2/team/b/blobs/uploads/?digest=${sha256('y'.repeat(3 * KiB))}`, { method: 'POST', body: 'y'.repeat(3 * KiB) });
    assert.match(await deniedMessage(refused), /repositories matching "team\/\*" use 8192 of 10240 bytes/);
    assert.equal(await client.pushBlob('unlimited', 'z'.repeat(20 * KiB)), sha256('z'.repeat(20 * KiB)));
  });

  it('when usage is reported, then each repository counts its distinct blobs once', async () => {
    await registry.close();
    const { stdout } = await run(process.execPath, [CLI, 'usage', join(registry.dataDir, 'config.yml')]);
    const bytes = (name: string) => Number(new RegExp(`^${name.replace('/', '\\/')}\\s+\\S+ \\S+\\s+(\\d+)`, 'm').exec(stdout)?.[1]);
    assert.equal(bytes('small'), 6 * KiB + 2, stdout);
    assert.equal(bytes('team/a'), 8 * KiB);
    assert.equal(bytes('team/b'), 4 * KiB);
  });
});

describe('retention', () => {
  let registry: TestRegistry;
  let client: OciClient;
  const clock = new ManualClock();
  before(async () => {
    registry = await startInProcess({
      policies: [{ match: 'apps/*', retention: { keep: 2, include: '^v', exclude: '^v0' } }],
    }, undefined, { clock: clock.now });
    client = new OciClient(registry.url);
  });
  after(() => registry.destroy());

  it('when retention runs, then the dry run lists exactly what the real run removes, and kept, excluded and other tags stay', async () => {
    for (const tag of ['v0.9', 'v1', 'v2', 'v3', 'v4', 'latest']) {
      await client.pushImage('apps/web', tag, [`layer-${tag}`]);
      clock.advance(1000); // each push a second after the last: "newest" is well defined
    }
    await client.pushImage('other/web', 'v1', ['x']);
    const preview = await registry.app.registry.retention.run(true);
    assert.deepEqual(preview.tags.map((decision) => `${decision.repository}:${decision.tag}`).sort(), ['apps/web:v1', 'apps/web:v2']);
    assert.match(preview.tags[0]!.reason, /not among the newest 2/);
    assert.equal((await client.request('/v2/apps/web/manifests/v1')).status, 200, 'the dry run removed nothing');

    const report = await registry.app.registry.retention.run(false);
    assert.deepEqual(report.tags.map((decision) => decision.tag).sort(), ['v1', 'v2']);
    assert.equal(report.manifests.length, 2, 'their manifests had no other tag');
    const tags = ((await (await client.request('/v2/apps/web/tags/list')).json()) as { tags: string[] }).tags;
    assert.deepEqual(tags, ['latest', 'v0.9', 'v3', 'v4']);
    assert.equal((await client.request('/v2/other/web/manifests/v1')).status, 200);
  });

  it('when a tag is pulled, then its last-pulled time is recorded in a batch, not per pull', async () => {
    await client.request('/v2/apps/web/manifests/v4');
    const before = (await registry.app.registry.metadata.listTagDetails('apps/web' as never)).find((detail) => detail.tag === 'v4');
    assert.equal(before!.lastPulledAt, undefined, 'not written on the request path');
    await registry.app.registry.pulls.flush();
    const after = (await registry.app.registry.metadata.listTagDetails('apps/web' as never)).find((detail) => detail.tag === 'v4');
    assert.ok(after!.lastPulledAt! >= Date.now() - 60_000);
  });

  it('when berth cleanup --dry-run runs, then it prints what would go and changes nothing', async () => {
    for (const tag of ['v5', 'v6']) await client.pushImage('apps/web', tag, [`layer-${tag}`]);
    const { stdout } = await run(process.execPath, [CLI, 'cleanup', join(registry.dataDir, 'config.yml'), '--dry-run']);
    assert.match(stdout, /^dry run: nothing will be removed$/m);
    assert.match(stdout, /would remove tag apps\/web:v3 \(sha256:[0-9a-f]{64}\): not among the newest 2/);
    assert.match(stdout, /would remove tag apps\/web:v4/);
    assert.equal((await client.request('/v2/apps/web/manifests/v3')).status, 200);
  });
});
