import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Registry2Import } from '../../src/core/import/registry2-import.js';
import { KeyedMutex } from '../../src/core/keyed-mutex.js';
import { openSqliteMetadataStore } from '../../src/metadata/sqlite/sqlite-store.js';
import { BlobStore } from '../../src/storage/blob-store.js';
import { FilesystemDriver } from '../../src/storage/filesystem-driver.js';
import { Registry2Tree } from '../../src/storage/registry2-tree.js';
import { Skopeo } from '../clients/registry-clients.js';
import { startInProcess } from '../support/in-process.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, OciLayout, sampleImage, sha256, type BuiltImage, type BuiltIndex } from '../support/images.js';
import { startRegistry2 } from '../support/registry2.js';
import { CLI, startServer, type RunningServer } from '../support/server.js';

/**
 * Users switching from registry:2 keep their volume: the real registry:2 writes a tree, Berth
 * is started on it (or `berth import` runs), and skopeo checks every tag pulls with the same
 * digests, that deleted content stays deleted, that corrupted bytes are refused, and that a
 * second import changes nothing.
 */
const AMD64 = { os: 'linux', architecture: 'amd64' };
const OCI_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(', ');
const ARM64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function berth(args: string[]): Promise<CliResult> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REGISTRY_') && value !== undefined) env[name] = value;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function blobData(root: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

function berthBlob(root: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(root, 'v1/blobs/sha256', hex.slice(0, 2), hex);
}

/** What the metadata database says exists (bookkeeping such as the import record left out). */
function contentRows(database: string): Record<string, unknown[]> {
  const db = new Database(database, { readonly: true });
  try {
    const rows: Record<string, unknown[]> = {};
    for (const table of ['repositories', 'blobs', 'repository_blobs', 'manifests', 'manifest_references', 'tags']) {
      rows[table] = db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3`).all();
    }
    return rows;
  } finally {
    db.close();
  }
}

async function filesUnder(directory: string): Promise<string[]> {
  return (await readdir(directory, { recursive: true })).sort();
}

/** Waits (event-driven, on the server's output) for a log entry with this message. */
function logEntry(server: RunningServer, message: string): Promise<Record<string, unknown>> {
  const find = () =>
    server
      .output()
      .split('\n')
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return undefined;
        }
      })
      .find((entry) => entry?.msg === message);
  return new Promise((resolve, reject) => {
    const stdout = server.process.stdout!;
    const check = () => {
      const entry = find();
      if (!entry) return;
      clearTimeout(timer);
      stdout.off('data', onData);
      resolve(entry);
    };
    const onData = () => setImmediate(check);
    const timer = setTimeout(() => {
      stdout.off('data', onData);
      reject(new Error(`no "${message}" log entry within 60 s:\n${server.output()}`));
    }, 60_000);
    stdout.on('data', onData);
    check();
  });
}

describe('adopting a registry:2 data directory', () => {
  let work: string;
  let root: string;
  /** A second copy of the same registry:2 tree, for the interrupted import. */
  let resumeRoot: string;
  let configPath: string;
  let skopeo: Skopeo;
  let single: BuiltImage;
  let multi: BuiltIndex;
  let corrupt: BuiltImage;
  let untagged: BuiltImage;
  let stale: BuiltImage;
  let gone: BuiltImage;
  let v2s2Digest: string;
  let keepDigest: string;
  let berthServer: RunningServer | undefined;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-import-'));
    root = join(work, 'registry');
    resumeRoot = join(work, 'registry-resume');
    configPath = join(work, 'config.yml');
    skopeo = new Skopeo(join(work, 'skopeo'));
    const layout = await OciLayout.create(join(work, 'layout'));
    single = await layout.addImage('single', sampleImage(AMD64, 'single'));
    await layout.addImage('v2s2', sampleImage(AMD64, 'docker'));
    multi = await layout.addIndex('multi', [sampleImage(AMD64, 'multi'), sampleImage(ARM64, 'multi')]);
    corrupt = await layout.addImage('corrupt', sampleImage(AMD64, 'corrupt'));
    untagged = await layout.addImage('untagged', sampleImage(AMD64, 'untagged'));
    stale = await layout.addImage('stale', sampleImage(AMD64, 'stale'));
    gone = await layout.addImage('gone', sampleImage(AMD64, 'gone'));

    const registry2 = await startRegistry2(root, work);
    try {
      const at = (reference: string) => `${registry2.host}/${reference}`;
      await skopeo.push(layout, 'single', at('library/single:1.0'), { format: 'oci' });
      await skopeo.push(layout, 'single', at('library/single:latest'), { format: 'oci' });
      v2s2Digest = await skopeo.push(layout, 'v2s2', at('docker/v2s2:v1'), { format: 'v2s2' });
      await skopeo.pushIndex(layout, 'multi', at('multi:all'), { format: 'oci' });
      await skopeo.push(layout, 'corrupt', at('corrupt:v1'), { format: 'oci' });
      keepDigest = await skopeo.push(layout, 'single', at('app:keep'), { format: 'oci' });
      await skopeo.push(layout, 'untagged', at(`app@${untagged.manifest.digest}`), { format: 'oci' });
      await skopeo.push(layout, 'stale', at('app:stale'), { format: 'oci' });
      await skopeo.push(layout, 'gone', at('app:gone'), { format: 'oci' });
      // registry:2 deletes by digest: the revision link and every tag naming it go.
      await skopeo.delete!(at('app:gone'));
    } finally {
      await registry2.stop();
    }
    // A tag whose current link is gone while its history remains is deleted too.
    await unlink(join(root, 'docker/registry/v2/repositories/app/_manifests/tags/stale/current/link'));
    // Bit rot in one layer that only corrupt:v1 uses: same length, other bytes.
    const damaged = blobData(root, corrupt.layers[1]!.digest);
    const bytes = await readFile(damaged);
    const middle = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    await writeFile(damaged, bytes);
    await cp(root, resumeRoot, { recursive: true });

    await writeFile(configPath, `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n`);
  });

  after(async () => {
    await berthServer?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('when berth import --dry-run runs on the tree, then it reports what it would import and the corrupted blob, and writes nothing', async () => {
    const result = await berth(['import', configPath, '--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^would import 5 repositories: 8 manifests, 5 tags, /m);
    assert.match(result.stdout, new RegExp(`skipped blob ${corrupt.layers[1]!.digest}: its bytes digest to sha256:[0-9a-f]{64}: the file is corrupted`));
    assert.match(result.stdout, /skipped corrupt:v1: its manifest sha256:[0-9a-f]{64} was not imported/);
    await assert.rejects(stat(join(root, 'v1/blobs')), { code: 'ENOENT' });
  });

  it('when berth import finds no registry:2 tree, then it exits non-zero and says where it looked', async () => {
    const empty = join(work, 'empty');
    const emptyConfig = join(work, 'empty.yml');
    await writeFile(emptyConfig, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${empty}\n`);
    const result = await berth(['import', emptyConfig]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`no registry:2 tree in ${empty} \\(looked for docker/registry/v2/repositories/\\)`));
    const usage = await berth(['import', emptyConfig, '--bogus']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: berth import \[config.yml\] \[--dry-run\|-d\]/);
  });

  it('when berth serve starts on a registry:2 volume, then it imports while serving and every tag pulls with the same digests', async (t) => {
    berthServer = await startServer({ dataDir: work, config: { storage: { filesystem: { rootdirectory: root } } } });
    const finished = await logEntry(berthServer, 'registry:2 import finished');
    t.diagnostic(`imported ${String(finished.manifests)} manifests, ${String(finished.blobs)} blobs in ${String(finished.durationMs)} ms`);
    assert.equal(finished.manifests, 8);
    assert.equal(finished.tags, 5);
    assert.equal(finished.skipped, 3);
    const at = (reference: string) => `${berthServer!.host}/${reference}`;

    assert.equal((await skopeo.inspect!(at('library/single:1.0'))).digest, single.manifest.digest);
    assert.equal((await skopeo.inspect!(at('library/single:latest'))).digest, single.manifest.digest);
    assert.equal((await skopeo.inspect!(at('docker/v2s2:v1'))).digest, v2s2Digest);
    assert.equal((await skopeo.inspect!(at('multi:all'))).digest, multi.index.digest);
    assert.equal((await skopeo.inspect!(at('app:keep'))).digest, keepDigest);
    assert.equal((await skopeo.inspect!(at(`app@${untagged.manifest.digest}`))).digest, untagged.manifest.digest);
    assert.equal((await skopeo.inspect!(at(`app@${stale.manifest.digest}`))).digest, stale.manifest.digest);
    assert.deepEqual((await skopeo.listTags(at('app'))).sort(), ['keep']);
    await assert.rejects(skopeo.inspect!(at(`app@${gone.manifest.digest}`)), /manifest unknown/i);
    await assert.rejects(skopeo.inspect!(at('corrupt:v1')), /manifest unknown/i);

    const pulled = await skopeo.pull(at('library/single:1.0'));
    assert.deepEqual(pulled.layerDigests, single.layers.map((layer) => layer.digest));
    assert.deepEqual(pulled.diffIds, single.layers.map((layer) => layer.diffId));
    const arm = await skopeo.pull(at('multi:all'), ARM64);
    assert.equal(arm.manifestDigest, multi.images[1]!.manifest.digest);
    assert.deepEqual(arm.layerDigests, multi.images[1]!.layers.map((layer) => layer.digest));
    assert.equal((await skopeo.pull(at('docker/v2s2:v1'))).manifestDigest, v2s2Digest);

    // What a push records is recorded for imported manifests too: an index's platforms, an image's from its config.
    const tagsOf = async (name: string) => ((await (await fetch(`${berthServer!.url}/api/v1/repositories/${name}/tags`)).json()) as { tags: { tag: string; platforms: string[] }[] }).tags;
    assert.deepEqual((await tagsOf('multi')).find((tag) => tag.tag === 'all')?.platforms, ['linux/amd64', 'linux/arm64/v8']);
    assert.deepEqual((await tagsOf('library/single')).find((tag) => tag.tag === '1.0')?.platforms, ['linux/amd64']);

    // The bytes are registry:2's own files, shared (hard-linked), not copied.
    const layer = single.layers[0]!.digest;
    assert.equal((await stat(berthBlob(root, layer))).ino, (await stat(blobData(root, layer))).ino);
    await assert.rejects(stat(berthBlob(root, corrupt.layers[1]!.digest)), { code: 'ENOENT' });
    assert.match(berthServer.output(), new RegExp(`registry:2 import skipped blob ${corrupt.layers[1]!.digest}: its bytes digest to`));

    // Beside the server, the command runs inside it (its locks keep the import safe against online GC):
    // the server has imported everything already, so nothing changes.
    const beside = await berth(['import', configPath]);
    assert.equal(beside.code, 0, beside.stderr);
    assert.match(beside.stderr, /a Berth server is running on this storage: importing through it/);
    assert.match(beside.stdout, /^imported 5 repositories: 0 manifests, 0 tags, 0 layer links, 0 blobs /m);

    // Pushes keep working, and a tag moved in Berth is Berth's from now on.
    assert.equal(await skopeo.copy(at(`app@${untagged.manifest.digest}`), at('library/single:latest')), untagged.manifest.digest);
  });

  it('when the import runs again, then it changes nothing and keeps the tag Berth moved', async () => {
    await berthServer!.stop();
    berthServer = undefined;
    const database = join(root, 'berth.sqlite');
    const rows = contentRows(database);
    const files = await filesUnder(join(root, 'v1/blobs'));

    const result = await berth(['import', configPath]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^imported 5 repositories: 0 manifests, 0 tags, 0 layer links, 0 blobs /m);
    assert.match(result.stdout, new RegExp(`skipped library/single:latest: Berth already has this tag, pointing at ${untagged.manifest.digest}; kept`));
    assert.deepEqual(contentRows(database), rows);
    assert.deepEqual(await filesUnder(join(root, 'v1/blobs')), files);
  });

  it('when an import is interrupted, then the next start resumes it and every tag is served', async () => {
    const driver = new FilesystemDriver(resumeRoot);
    const metadata = await openSqliteMetadataStore(join(resumeRoot, 'berth.sqlite'));
    const importer = new Registry2Import({ metadata, blobs: new BlobStore(driver), tree: new Registry2Tree(driver), locks: new KeyedMutex() });
    const controller = new AbortController();
    try {
      // Repositories go in name order: app and corrupt are done, the other three are not.
      await assert.rejects(
        importer.run({ dryRun: false, signal: controller.signal, onProgress: (progress) => progress.done === 2 && controller.abort() }),
        { name: 'AbortError' },
      );
      assert.equal(await importer.pending(), true);
    } finally {
      await metadata.close();
    }

    const dataDir = join(work, 'in-process');
    await mkdir(dataDir);
    const registry = await startInProcess({ storage: { filesystem: { rootdirectory: resumeRoot } } }, dataDir);
    try {
      await registry.app.importSettled();
      const digestOf = async (path: string, accept: string) => {
        const response = await fetch(new URL(path, registry.url), { method: 'HEAD', headers: { accept } });
        return response.headers.get('docker-content-digest');
      };
      assert.equal(await digestOf('/v2/app/manifests/keep', OCI_ACCEPT), keepDigest);
      assert.equal(await digestOf('/v2/library/single/manifests/latest', OCI_ACCEPT), single.manifest.digest);
      assert.equal(await digestOf('/v2/docker/v2s2/manifests/v1', OCI_ACCEPT), v2s2Digest);
      assert.equal(await digestOf('/v2/multi/manifests/all', OCI_ACCEPT), multi.index.digest);
      const blob = await fetch(new URL(`/v2/multi/blobs/${multi.images[1]!.layers[1]!.digest}`, registry.url));
      assert.equal(blob.status, 200);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), multi.images[1]!.layers[1]!.digest);
    } finally {
      await registry.close();
    }
    const reopened = await openSqliteMetadataStore(join(resumeRoot, 'berth.sqlite'));
    try {
      assert.notEqual(await reopened.importFinishedAt('registry2'), undefined);
    } finally {
      await reopened.close();
    }
  });
});
