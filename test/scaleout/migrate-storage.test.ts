import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startCeph, type RunningCeph } from '../support/ceph.js';
import { replicaSections } from '../support/s3-config.js';
import { OciClient, sha256 } from '../support/oci-client.js';
import { startPostgres, type RunningPostgres } from '../support/postgres.js';
import { runCli, startServer, type RunningServer } from '../support/server.js';

/**
 * `berth migrate-storage`: an embedded registry (filesystem + SQLite) moved to Ceph RGW and
 * PostgreSQL, then served from there by a replica, image by image the same.
 */
describe('berth migrate-storage from the embedded default to S3 and PostgreSQL', () => {
  let ceph: RunningCeph;
  let postgres: RunningPostgres;
  let source: RunningServer;
  let work: string;
  let toPath: string;
  let toConfig: Record<string, unknown>;
  const pushed: { name: string; tag: string; digest: string; blobs: { digest: string; size: number }[] }[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-move-'));
    [ceph, postgres] = await Promise.all([startCeph(), startPostgres()]);
    const database = await postgres.createDatabase('moved');
    const { s3, database: db } = replicaSections(ceph, await ceph.createBucket(), database, { rootdirectory: '/moved' });
    toConfig = { storage: { s3, delete: { enabled: true } }, database: db };
    toPath = join(work, 'to.yml');
    await writeFile(toPath, stringify({ version: 0.1, ...toConfig }));

    source = await startServer();
    const client = new OciClient(source.url);
    for (const [name, tag, layers] of [['team/app', 'v1', ['app-layer', 'base-layer']], ['team/app', 'v2', ['app-layer-2', 'base-layer']], ['tools/cli', 'latest', ['cli-layer']]] as const) {
      const big = randomBytes(3 * 1024 * 1024 + 17).toString('base64');
      const image = await client.pushImage(name, tag, [...layers, big]);
      const manifest = image.manifest as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
      pushed.push({ name, tag, digest: image.digest, blobs: [manifest.config, ...manifest.layers] });
    }
    // A deleted tag's image stays deleted after the move.
    const gone = await client.pushImage('team/app', 'gone', ['gone-layer']);
    assert.equal((await client.request(`/v2/team/app/manifests/${gone.digest}`, { method: 'DELETE' })).status, 202);
  });

  after(async () => {
    await source?.stop();
    await source?.cleanup();
    await Promise.all([ceph?.stop(), postgres?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('when the source server is still running, then the move is refused and nothing is written', async () => {
    const result = await runCli(['migrate-storage', join(source.dataDir, 'config.yml'), toPath]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stderr, /stop the server/);
  });

  it('when the stopped registry is moved, then every tag is verified on the target and a replica there serves the same images', async () => {
    await source.stop();
    const moved = await runCli(['migrate-storage', join(source.dataDir, 'config.yml'), toPath]);
    assert.equal(moved.code, 0, moved.stdout + moved.stderr);
    assert.match(moved.stdout, /verified: 3 of 3 tags in 2 repositories/);

    const replica = await startServer({ config: toConfig });
    try {
      const client = new OciClient(replica.url);
      for (const { name, tag, digest, blobs } of pushed) {
        const manifest = await client.request(`/v2/${name}/manifests/${tag}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
        assert.equal(manifest.status, 200, `${name}:${tag}`);
        assert.equal(sha256(Buffer.from(await manifest.arrayBuffer())), digest);
        for (const blob of blobs) {
          const response = await client.request(`/v2/${name}/blobs/${blob.digest}`, { redirect: 'follow' });
          const bytes = Buffer.from(await response.arrayBuffer());
          assert.equal(bytes.length, blob.size);
          assert.equal(sha256(bytes), blob.digest);
        }
      }
      assert.equal((await client.request('/v2/team/app/manifests/gone')).status, 404);
      const tags = (await (await client.request('/v2/team/app/tags/list')).json()) as { tags: string[] };
      assert.deepEqual(tags.tags, ['v1', 'v2']);
    } finally {
      await replica.stop();
      await replica.cleanup();
    }
  });

  it('when the move is run again into the filled target, then it is refused', async () => {
    const again = await runCli(['migrate-storage', join(source.dataDir, 'config.yml'), toPath]);
    assert.equal(again.code, 1, again.stdout + again.stderr);
    assert.match(again.stderr, /already holds/);
    assert.match(again.stdout, /objects: 0 copied \(0 bytes\), \d+ already there/, 'every object was found on the target');
  });
});
