import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startServer, type RunningServer } from '../support/server.js';
import {
  MiB,
  OCI_MANIFEST,
  Pattern,
  assertImageIntact,
  http,
  pullBlobDigest,
  pushImage,
  sha256,
  uploadDataPath,
  uploadIdOf,
  waitForAnyUploadLargerThan,
  waitForFileLargerThan,
  type PushedImage,
} from './helpers.js';

/**
 * Crash safety: the real server (compiled CLI, child process) is SIGKILLed in the middle of a
 * push and restarted on the same data directory. Whatever it acknowledged must still be there,
 * byte for byte; whatever it did not must be invisible or resumable — never half-visible.
 */

const servers: RunningServer[] = [];
const dataDirs = new Set<string>();

async function launch(dataDir?: string): Promise<RunningServer> {
  const server = await startServer(dataDir === undefined ? {} : { dataDir });
  servers.push(server);
  dataDirs.add(server.dataDir);
  return server;
}

after(async () => {
  for (const server of servers) await server.kill();
  for (const server of servers) if (dataDirs.delete(server.dataDir)) await server.cleanup();
});

/** Two small complete images in two repositories (one nested), pushed before the crash. */
async function pushEarlierImages(base: string): Promise<PushedImage[]> {
  return [
    await pushImage(base, 'earlier/app', 'v1', [64 * 1024, 1 * MiB + 17]),
    await pushImage(base, 'earlier/app', 'v2', [300 * 1024]),
    await pushImage(base, 'tools', 'latest', [2 * MiB]),
  ];
}

function rangeEnd(header: string | string[] | undefined): number {
  assert.equal(typeof header, 'string', 'Range header present');
  const match = /^0-(\d+)$/.exec(header as string);
  assert.ok(match, `Range header is 0-<end>: ${String(header)}`);
  return Number(match[1]);
}

describe('crash safety (SIGKILL and restart on the same data)', { timeout: 240_000 }, () => {
  it('when the server is killed in the middle of a chunk PATCH, then earlier images pull intact, nothing partial is visible, and the upload resumes from the reported Range', { timeout: 150_000 }, async (t) => {
    const first = await launch();
    const images = await pushEarlierImages(first.url);

    const CHUNK = 16 * MiB;
    const big = new Pattern('crash/chunked', 256 * MiB);
    const bigDigest = big.digest();
    const name = 'big/blob';

    const started = await http(first.url, 'POST', `/v2/${name}/blobs/uploads/`);
    assert.equal(started.status, 202);
    let location = started.headers.location!;
    const uploadId = uploadIdOf(location);

    // Five chunks acknowledged...
    const ACKED_CHUNKS = 5;
    for (let index = 0; index < ACKED_CHUNKS; index++) {
      const start = index * CHUNK;
      const end = start + CHUNK;
      const response = await http(first.url, 'PATCH', location, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': CHUNK, 'Content-Range': `${start}-${end - 1}` },
        body: big.stream(start, end),
      });
      assert.equal(response.status, 202, response.body.toString());
      assert.equal(rangeEnd(response.headers.range), end - 1);
      location = response.headers.location!;
    }
    const acknowledged = ACKED_CHUNKS * CHUNK;

    // ...then the sixth is frozen half-way, once the server has written part of it, and the server dies.
    const start = acknowledged;
    let paused!: () => void;
    const pausedPromise = new Promise<void>((done) => (paused = done));
    const interrupted = http(first.url, 'PATCH', location, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': CHUNK, 'Content-Range': `${start}-${start + CHUNK - 1}` },
      body: big.stream(start, start + CHUNK, { pauseAfter: CHUNK / 2, onPause: () => paused() }),
      timeoutMs: 60_000,
    }).then(
      (response) => ({ response }),
      (error: unknown) => ({ error }),
    );
    await pausedPromise;
    const onDisk = await waitForFileLargerThan(uploadDataPath(first.dataDir, uploadId), acknowledged, 10_000);
    await first.kill();
    const outcome = await interrupted;
    assert.ok('error' in outcome, `the interrupted PATCH must not be acknowledged, got ${'response' in outcome ? outcome.response.status : ''}`);
    assert.ok(onDisk > acknowledged, 'the crash left stray bytes past the acknowledged offset (the server must cut them)');

    t.diagnostic(`killed with ${acknowledged} bytes acknowledged and ${onDisk} bytes in the upload file`);
    const second = await launch(first.dataDir);

    // No partial blob is visible.
    for (const method of ['HEAD', 'GET'] as const) {
      const response = await http(second.url, method, `/v2/${name}/blobs/${bigDigest}`);
      assert.equal(response.status, 404, `${method} of the unfinished blob after restart`);
    }
    // Everything acknowledged before the crash is intact.
    for (const image of images) await assertImageIntact(second.url, image);

    // The session survived; it reports exactly the acknowledged bytes (not the stray ones).
    const status = await http(second.url, 'GET', location);
    assert.equal(status.status, 204, status.body.toString());
    assert.equal(status.headers['docker-upload-uuid'], uploadId);
    const resumeAt = rangeEnd(status.headers.range) + 1;
    assert.equal(resumeAt, acknowledged, 'the restarted server reports the acknowledged offset');
    location = status.headers.location ?? location;

    // Resume from the reported offset: all but the last chunk in one PATCH...
    const lastStart = big.size - CHUNK;
    const patched = await http(second.url, 'PATCH', location, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': lastStart - resumeAt, 'Content-Range': `${resumeAt}-${lastStart - 1}` },
      body: big.stream(resumeAt, lastStart),
      timeoutMs: 60_000,
    });
    assert.equal(patched.status, 202, patched.body.toString());
    assert.equal(rangeEnd(patched.headers.range), lastStart - 1);
    location = patched.headers.location!;
    assert.equal((await http(second.url, 'HEAD', `/v2/${name}/blobs/${bigDigest}`)).status, 404, 'still invisible before the PUT');

    // ...and the last chunk in the PUT that commits, with the digest of the whole content.
    const separator = location.includes('?') ? '&' : '?';
    const committed = await http(second.url, 'PUT', `${location}${separator}digest=${bigDigest}`, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': CHUNK, 'Content-Range': `${lastStart}-${big.size - 1}` },
      body: big.stream(lastStart, big.size),
      timeoutMs: 60_000,
    });
    assert.equal(committed.status, 201, committed.body.toString());
    assert.equal(committed.headers['docker-content-digest'], bigDigest);

    const pulled = await pullBlobDigest(second.url, name, bigDigest);
    assert.equal(pulled.status, 200);
    assert.equal(pulled.size, big.size);
    assert.equal(pulled.digest, bigDigest);
    assert.equal((await http(second.url, 'GET', location)).status, 404, 'the finished session is gone');
    await second.stop();
  });

  it('when the server is killed in the middle of a monolithic POST ?digest=, then after restart the blob is 404, earlier images are intact and the same blob can be pushed again', { timeout: 120_000 }, async (t) => {
    const first = await launch();
    const images = await pushEarlierImages(first.url);

    const blob = new Pattern('crash/monolithic', 64 * MiB);
    const digest = blob.digest();
    const name = 'mono/blob';
    const sent = 24 * MiB;

    let paused!: () => void;
    const pausedPromise = new Promise<void>((done) => (paused = done));
    const interrupted = http(first.url, 'POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.size },
      body: blob.stream(0, blob.size, { pauseAfter: sent, onPause: () => paused() }),
      timeoutMs: 60_000,
    }).then(
      (response) => ({ response }),
      (error: unknown) => ({ error }),
    );
    await pausedPromise;
    const onDisk = await waitForAnyUploadLargerThan(first.dataDir, 8 * MiB, 10_000);
    t.diagnostic(`killed with ${onDisk} of ${blob.size} bytes in the monolithic upload's data file`);
    await first.kill();
    const outcome = await interrupted;
    assert.ok('error' in outcome, 'the interrupted POST must not be acknowledged');

    const second = await launch(first.dataDir);
    for (const method of ['HEAD', 'GET'] as const) {
      const response = await http(second.url, method, `/v2/${name}/blobs/${digest}`);
      assert.equal(response.status, 404, `${method} of the interrupted monolithic blob after restart`);
    }
    for (const image of images) await assertImageIntact(second.url, image);

    // Pushing the same digest again stores the full content (no half-written object shadows it).
    const pushed = await http(second.url, 'POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.size },
      body: blob.stream(),
      timeoutMs: 60_000,
    });
    assert.equal(pushed.status, 201, pushed.body.toString());
    const pulled = await pullBlobDigest(second.url, name, digest);
    assert.equal(pulled.status, 200);
    assert.equal(pulled.size, blob.size);
    assert.equal(pulled.digest, digest);
    await second.stop();
  });

  it('when the server is killed during a burst of manifest PUTs, then every acknowledged manifest pulls intact and no other tag resolves to anything but the bytes sent', { timeout: 120_000 }, async (t) => {
    const first = await launch();
    const images = await pushEarlierImages(first.url);
    const base = images[0]!;
    const name = base.name;

    const TOTAL = 400;
    const CONCURRENCY = 12;
    const KILL_AFTER = 60;
    const manifests = Array.from({ length: TOTAL }, (_, index) => {
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: base.blobs[0]!.digest, size: base.blobs[0]!.size },
          layers: base.blobs.slice(1).map((blob) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blob.digest, size: blob.size })),
          annotations: { 'org.example.burst': String(index) },
        }),
      );
      return { tag: `burst-${index}`, body, digest: sha256(body) };
    });

    const acknowledged = new Set<number>();
    let next = 0;
    let killing: Promise<void> | undefined;
    const worker = async () => {
      while (next < TOTAL && !killing) {
        const index = next++;
        const manifest = manifests[index]!;
        try {
          const response = await http(first.url, 'PUT', `/v2/${name}/manifests/${manifest.tag}`, { headers: { 'Content-Type': OCI_MANIFEST }, body: manifest.body, timeoutMs: 20_000 });
          if (response.status === 201) {
            assert.equal(response.headers['docker-content-digest'], manifest.digest);
            acknowledged.add(index);
            if (acknowledged.size === KILL_AFTER) killing = first.kill();
          } else {
            assert.fail(`manifest PUT ${manifest.tag} before the kill: ${response.status} ${response.body.toString()}`);
          }
        } catch (error) {
          if (!killing) throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.ok(killing, 'the server was killed mid-burst');
    await killing;
    const attempted = next;
    assert.ok(attempted > acknowledged.size, 'some manifest PUTs were in flight when the server died');

    t.diagnostic(`killed after ${acknowledged.size} acknowledged of ${attempted} attempted manifest PUTs`);
    const second = await launch(first.dataDir);
    for (const image of images) await assertImageIntact(second.url, image);

    for (let index = 0; index < attempted; index++) {
      const manifest = manifests[index]!;
      const byTag = await http(second.url, 'GET', `/v2/${name}/manifests/${manifest.tag}`, { headers: { Accept: OCI_MANIFEST } });
      if (acknowledged.has(index)) {
        assert.equal(byTag.status, 200, `acknowledged ${manifest.tag} is lost`);
      } else {
        assert.ok(byTag.status === 200 || byTag.status === 404, `unacknowledged ${manifest.tag}: ${byTag.status} ${byTag.body.toString()}`);
      }
      if (byTag.status === 200) {
        assert.ok(byTag.body.equals(manifest.body), `${manifest.tag} resolves to other bytes than were sent`);
        assert.equal(byTag.headers['docker-content-digest'], manifest.digest);
        const byDigest = await http(second.url, 'GET', `/v2/${name}/manifests/${manifest.digest}`, { headers: { Accept: OCI_MANIFEST } });
        assert.equal(byDigest.status, 200);
        assert.ok(byDigest.body.equals(manifest.body));
      }
    }

    // Every tag the registry lists resolves, to the bytes that were sent for it.
    const list = await http(second.url, 'GET', `/v2/${name}/tags/list`);
    assert.equal(list.status, 200);
    const tags = (JSON.parse(list.body.toString()) as { tags: string[] }).tags;
    const sentByTag = new Map<string, { tag: string; body: Buffer; digest: string }>(manifests.map((manifest) => [manifest.tag, manifest]));
    for (const image of images.filter((image) => image.name === name)) sentByTag.set(image.tag, { tag: image.tag, body: image.manifest, digest: image.manifestDigest });
    for (const tag of tags) {
      const expected = sentByTag.get(tag);
      assert.ok(expected, `unexpected tag ${tag}`);
      const response = await http(second.url, 'GET', `/v2/${name}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(response.status, 200, `listed tag ${tag} does not resolve`);
      assert.ok(response.body.equals(expected.body), `listed tag ${tag} has other bytes than were sent`);
    }
    for (const index of acknowledged) assert.ok(tags.includes(manifests[index]!.tag), `acknowledged ${manifests[index]!.tag} missing from tags/list`);
    await second.stop();
  });
});
