import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Digest } from '../../src/oci/digest.js';
import type { RepositoryName } from '../../src/oci/names.js';
import { layout } from '../../src/storage/layout.js';
import { startWithClient, type TestRegistry } from '../support/in-process.js';
import { OciClient, artifactManifest, errorCode, sha256 } from '../support/oci-client.js';
import { CLI, startServer, type RunningServer } from '../support/server.js';

const run = promisify(execFile);
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const MiB = 1024 * 1024;

/** Bytes of the blob files: what `du` of the storage tree sees (small blobs are in their database rows). */
async function storedBytes(dataDir: string): Promise<number> {
  const root = join(dataDir, 'storage', 'v1', 'blobs');
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  let total = 0;
  for (const entry of entries) if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  return total;
}

function layer(seed: string, size: number): string {
  return seed.repeat(Math.ceil(size / seed.length)).slice(0, size);
}

describe('garbage collection', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => ({ registry, client } = await startWithClient()));
  after(() => registry.destroy());

  const HOUR = 60 * 60_000;
  const collect = (deleteUntagged = false, dryRun = false, graceMs = 0) => registry.app.collector.collect({ dryRun, deleteUntagged, graceMs });

  it('when an image is deleted and collected, then its unshared bytes leave the disk at once (grace protects nothing it needs) and the sharing image still pulls', async () => {
    const shared = layer('shared-', MiB);
    const doomed = await client.pushImage('space/a', 'v1', [shared, layer('only-a-1-', 2 * MiB), layer('only-a-2-', MiB)]);
    const kept = await client.pushImage('space/b', 'v1', [shared, layer('only-b-', MiB)]);
    await collect();
    const before = await storedBytes(registry.dataDir);

    assert.equal((await client.request(`/v2/space/a/manifests/${doomed.digest}`, { method: 'DELETE' })).status, 202);
    const report = await collect(false, false, HOUR);
    const after = await storedBytes(registry.dataDir);

    // Unshared: two layers, the config blob is the same JSON in both repos (shared), and the manifest bytes.
    const expected = 3 * MiB + doomed.body.length;
    assert.equal(report.bytesFreed, expected);
    assert.equal(before - after, 3 * MiB, 'the layers\' files are gone; the manifest\'s bytes went with its row');
    const layers = (kept.manifest.layers as { digest: string }[]).map((entry) => entry.digest);
    for (const digest of layers) {
      const response = await client.request(`/v2/space/b/blobs/${digest}`);
      assert.equal(response.status, 200);
      assert.equal(sha256(Buffer.from(await response.arrayBuffer())), digest);
    }
    assert.equal((await client.request('/v2/space/b/manifests/v1')).status, 200);
    assert.deepEqual(((await (await client.request('/v2/_catalog')).json()) as { repositories: string[] }).repositories.filter((name) => name.startsWith('space/')), ['space/b']);
    const gone = await client.request('/v2/space/a/tags/list');
    assert.equal(await errorCode(gone), 'NAME_UNKNOWN');
  });

  it('when a small blob stored as a file (recorded before blobs were kept in rows) is collected, then its file is deleted', async () => {
    const bytes = Buffer.from(`recorded as a file ${Date.now()}`);
    const digest = sha256(bytes) as Digest;
    const { blobs, metadata } = registry.app.registry;
    await blobs.driver.writeAtomic(layout.blob(digest), bytes);
    await metadata.linkBlob('legacy/app' as RepositoryName, digest, bytes.length);
    assert.equal(await metadata.inlineBlob(digest), undefined);
    assert.equal(await (await client.request(`/v2/legacy/app/blobs/${digest}`)).text(), bytes.toString(), 'served from its file');
    assert.equal((await client.request(`/v2/legacy/app/blobs/${digest}`, { method: 'DELETE' })).status, 202);

    const report = await collect(false, false, HOUR);
    assert.ok(report.details.blobs.some((blob) => blob.digest === digest));
    await assert.rejects(stat(join(registry.dataDir, 'storage', layout.blob(digest))), { code: 'ENOENT' });
  });

  it('when a deleted image\'s layer is checked with HEAD by a new push, then it survives the grace period; untouched layers of the same image go', async () => {
    const image = await client.pushImage('touch/a', 'v1', [layer('touched-', 4096), layer('untouched-', 4096)]);
    const [touched, untouched] = (image.manifest.layers as { digest: string }[]).map((entry) => entry.digest);
    assert.equal((await client.request(`/v2/touch/a/manifests/${image.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await client.request(`/v2/touch/a/blobs/${touched}`, { method: 'HEAD' })).status, 200);
    const report = await collect(false, false, HOUR);
    assert.equal((await client.request(`/v2/touch/a/blobs/${touched}`, { method: 'HEAD' })).status, 200);
    assert.equal((await client.request(`/v2/touch/a/blobs/${untouched}`, { method: 'HEAD' })).status, 404);
    assert.ok(report.kept.protectedLinks.count >= 1, 'the report says why the touched layer was kept');
    assert.ok(report.details.blobs.some((blob) => blob.digest === untouched));
    assert.ok(!report.details.blobs.some((blob) => blob.digest === touched));
  });

  it('when a blob was uploaded within the grace period, then it survives even with no manifest yet', async () => {
    const digest = await client.pushBlob('grace', 'uploaded before its manifest');
    await collect(false, false, HOUR);
    assert.equal((await client.request(`/v2/grace/blobs/${digest}`, { method: 'HEAD' })).status, 200);
    await collect(false, false, 0);
    assert.equal((await client.request(`/v2/grace/blobs/${digest}`, { method: 'HEAD' })).status, 404);
  });

  it('when --delete-untagged runs, then untagged manifests go but index children and referrers of kept images stay', async () => {
    const child = await client.pushImage('untag', 'child-tmp', ['child-layer']);
    const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.body.length }] });
    assert.equal((await client.putManifest('untag', 'multi', index, OCI_INDEX)).status, 201);
    await client.request('/v2/untag/manifests/child-tmp', { method: 'DELETE' });
    const old = await client.pushImage('untag', 'latest', ['old-layer']);
    const current = await client.pushImage('untag', 'latest', ['new-layer']);
    const empty = await client.pushBlob('untag', '{}');
    const referrer = (subject: { digest: string; body: Buffer }, type: string) => artifactManifest(subject, type, empty);
    const keptSignature = referrer(current, 'application/vnd.example.signature');
    const orphanSignature = referrer(old, 'application/vnd.example.signature');
    for (const body of [keptSignature, orphanSignature]) assert.equal((await client.putManifest('untag', sha256(body), body, OCI_MANIFEST)).status, 201);

    const preview = await collect(true, true);
    assert.deepEqual(preview.details.manifests.map((entry) => entry.digest).sort(), [old.digest, sha256(orphanSignature)].sort());
    assert.equal((await client.request(`/v2/untag/manifests/${old.digest}`)).status, 200, 'dry run changes nothing');

    const report = await collect(true);
    assert.deepEqual(report.details.manifests.map((entry) => entry.digest).sort(), preview.details.manifests.map((entry) => entry.digest).sort());
    assert.deepEqual(report.details.blobs.map((blob) => blob.digest).sort(), preview.details.blobs.map((blob) => blob.digest).sort());
    for (const digest of [child.digest, current.digest, sha256(keptSignature)]) assert.equal((await client.request(`/v2/untag/manifests/${digest}`)).status, 200, digest);
    for (const digest of [old.digest, sha256(orphanSignature)]) assert.equal((await client.request(`/v2/untag/manifests/${digest}`)).status, 404, digest);
    assert.equal((await client.request(`/v2/untag/blobs/${sha256('old-layer')}`, { method: 'HEAD' })).status, 404);
    assert.equal((await client.request(`/v2/untag/blobs/${sha256('child-layer')}`, { method: 'HEAD' })).status, 200);
  });

  it('when a blob is re-pushed or mounted while the collector deletes it, then every acknowledged push keeps its bytes', async () => {
    for (let round = 0; round < 30; round += 1) {
      const content = `contended blob ${round}`;
      const digest = await client.pushBlob('race/src', content);
      await client.request(`/v2/race/src/blobs/${digest}`, { method: 'DELETE' });
      const [, pushed, mounted] = await Promise.all([
        collect(),
        client.request(`/v2/race/dst/blobs/uploads/?digest=${digest}`, { method: 'POST', body: content }),
        client.request(`/v2/race/other/blobs/uploads/?mount=${digest}&from=race/dst`, { method: 'POST' }),
      ]);
      assert.equal(pushed.status, 201);
      const fetched = await client.request(`/v2/race/dst/blobs/${digest}`);
      assert.equal(fetched.status, 200, `round ${round}`);
      assert.equal(await fetched.text(), content);
      if (mounted.status === 201) assert.equal(await (await client.request(`/v2/race/other/blobs/${digest}`)).text(), content);
      else assert.equal(mounted.status, 202);
    }
  });

  it('when two collections start at once, then the second is refused by the lease', async () => {
    const results = await Promise.allSettled([collect(), collect()]);
    assert.equal(results.filter((result) => result.status === 'rejected').length, 1);
    assert.match(String((results.find((result) => result.status === 'rejected') as PromiseRejectedResult).reason), /another garbage collection/);
  });
});

describe('berth garbage-collect', () => {
  it('when a server is running, then the command collects through it online: du drops by the deleted image\'s unshared size and other images still pull', async () => {
    const server = await startServer();
    try {
      const client = new OciClient(server.url);
      const shared = layer('shared-cli-', 64 * 1024);
      const doomed = await client.pushImage('cli/app', 'v1', [shared, layer('cli-layer-', 256 * 1024)]);
      const kept = await client.pushImage('cli/other', 'v1', [shared, layer('other-layer-', 1024)]);
      await client.request(`/v2/cli/app/manifests/${doomed.digest}`, { method: 'DELETE' });
      const config = join(server.dataDir, 'config.yml');
      const before = await storedBytes(server.dataDir);

      const preview = await run(process.execPath, [CLI, 'garbage-collect', config, '--dry-run', '--details']);
      assert.match(preview.stdout, /^dry run: nothing will be removed$/m);
      assert.match(preview.stdout, new RegExp(`would remove blob ${sha256(layer('cli-layer-', 256 * 1024))}`));
      assert.match(preview.stderr, /collecting through it, online/);
      assert.equal(await storedBytes(server.dataDir), before);

      // The default grace period (1h) is in force: it protects nothing a deleted image needs.
      const real = await run(process.execPath, [CLI, 'garbage-collect', config]);
      const freed = Number(/\((\d+) bytes\)/.exec(real.stdout)![1]);
      assert.equal(freed, 256 * 1024 + doomed.body.length);
      assert.equal(before - (await storedBytes(server.dataDir)), 256 * 1024, 'the layer\'s file; the manifest was in its row');
      assert.match(real.stdout, /^kept \d+ objects \(.+\) still referenced by a manifest or a link$/m);
      // The progress lines count what the report lists: the layers' 3 links (2 layers, config) went with the manifest.
      const summary = /removed (\d+) links, (\d+) manifests, (\d+) blobs, (\d+) orphaned blobs, (\d+) repositories in [\d.]+ s$/m.exec(real.stdout)!;
      assert.equal(summary[1], '3');
      assert.match(real.stderr, /^\[links\] removed 3 links$/m);
      assert.match(real.stderr, new RegExp(`^\\[done\\] removed 3 links, ${summary[2]} manifests, ${summary[3]} blobs, ${summary[4]} orphaned blobs, 1 repositories; freed `, 'm'));
      for (const digest of (kept.manifest.layers as { digest: string }[]).map((entry) => entry.digest)) {
        const response = await client.request(`/v2/cli/other/blobs/${digest}`);
        assert.equal(sha256(Buffer.from(await response.arrayBuffer())), digest);
      }
    } finally {
      await server.stop();
      await server.cleanup();
    }
  });

  it('when no server is running, then the command collects directly with the same report', async () => {
    const server = await startServer();
    try {
      const client = new OciClient(server.url);
      const image = await client.pushImage('cli/stopped', 'v1', [layer('stopped-layer-', 64 * 1024)]);
      await client.request(`/v2/cli/stopped/manifests/${image.digest}`, { method: 'DELETE' });
      await server.stop();
      const config = join(server.dataDir, 'config.yml');
      const before = await storedBytes(server.dataDir);
      const real = await run(process.execPath, [CLI, 'garbage-collect', config, '-m']);
      assert.doesNotMatch(real.stderr, /collecting through it/);
      const freed = Number(/\((\d+) bytes\)/.exec(real.stdout)![1]);
      // Alone in this registry, the image's config blob is unshared too.
      assert.equal(freed, 64 * 1024 + image.body.length + (image.manifest.config as { size: number }).size);
      assert.equal(before - (await storedBytes(server.dataDir)), 64 * 1024, 'the layer\'s file; manifest and config were in their rows');
    } finally {
      await server.stop();
      await server.cleanup();
    }
  });

  it('when the server died uncleanly, then the next collection sweeps bytes no row records; after a clean stop the sweep is skipped', async () => {
    const first = await startServer();
    const storage = join(first.dataDir, 'storage');
    const config = join(first.dataDir, 'config.yml');
    /** Bytes as a crash between writing a blob and recording it leaves them: no row, older than the grace period. */
    const plantOrphan = async (content: string) => {
      const hex = sha256(content).slice('sha256:'.length);
      const path = join(storage, 'v1', 'blobs', 'sha256', hex.slice(0, 2), hex);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
      const old = new Date(Date.now() - 2 * 60 * 60_000);
      await utimes(path, old, old);
      return path;
    };
    let second: RunningServer | undefined;
    let third: RunningServer | undefined;
    try {
      const crashed = await plantOrphan('left by a crash');
      await first.kill();
      second = await startServer({ dataDir: first.dataDir });
      const swept = await run(process.execPath, [CLI, 'garbage-collect', config]);
      assert.match(swept.stdout, /removed \d+ links, \d+ manifests, \d+ blobs, 1 orphaned blobs/);
      await assert.rejects(stat(crashed), { code: 'ENOENT' });

      const kept = await plantOrphan('planted after a clean start');
      await second.stop();
      third = await startServer({ dataDir: first.dataDir });
      const skipped = await run(process.execPath, [CLI, 'garbage-collect', config]);
      assert.match(skipped.stdout, /removed \d+ links, \d+ manifests, \d+ blobs, 0 orphaned blobs/);
      assert.ok((await stat(kept)).isFile(), 'no unclean stop since the last sweep: the blob tree is not walked');
    } finally {
      await third?.stop();
      await second?.stop();
      await first.stop();
      await first.cleanup();
    }
  });
});

