import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Podman, Skopeo } from '../clients/registry-clients.js';
import { assertPulledImage } from '../clients/scenarios.js';
import { startCeph, type RunningCeph } from '../support/ceph.js';
import { startDockerd } from '../support/dockerd.js';
import { replicaSections } from '../support/s3-config.js';
import { OciLayout, sampleImage, sha256, type BuiltImage } from '../support/images.js';
import { startLoadBalancer, type LoadBalancer } from '../support/load-balancer.js';
import { OciClient } from '../support/oci-client.js';
import { startPostgres, type RunningPostgres } from '../support/postgres.js';
import { startServer, type RunningServer } from '../support/server.js';

/**
 * Three `berth serve` replicas on one Ceph RGW bucket and one PostgreSQL database, behind an
 * nginx load balancer (round robin), as users run scale-out: the same client scenarios as the
 * embedded default, with requests of one push spread over replicas, a collection running on
 * one replica while the others take pushes, quotas enforced across replicas, and a replica
 * killed mid-push whose upload another replica finishes.
 */
const exec = promisify(execFile);
const MIB = 1024 * 1024;
const QUOTA = 256 * 1024;
/** Short, so the test's deleted image goes stale while pushes run; a push takes far less. */
const GRACE_MS = 3_000;

describe('three replicas on Ceph RGW and PostgreSQL', () => {
  let ceph: RunningCeph;
  let postgres: RunningPostgres;
  let replicas: RunningServer[] = [];
  let balancer: LoadBalancer;
  let work: string;
  let layout: OciLayout;
  let image: BuiltImage;
  let config: Record<string, unknown>;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-r-'));
    [ceph, postgres] = await Promise.all([startCeph(), startPostgres()]);
    const database = await postgres.createDatabase('replicas');
    const { s3, database: db } = replicaSections(ceph, await ceph.createBucket(), database, { chunksize: 5 * MIB });
    config = {
      storage: {
        s3,
        // Collections are triggered by the test; pushes in flight are protected by the grace.
        maintenance: { gc: { enabled: false, grace: `${GRACE_MS / 1000}s` } },
      },
      database: db,
      policies: [{ match: 'quota/*', quota: { limit: QUOTA, scope: 'pattern' } }],
    };
    // Started together: their migrations race on one database (an advisory lock orders them).
    replicas = await Promise.all([0, 1, 2].map(() => startServer({ config })));
    balancer = await startLoadBalancer(replicas.map((replica) => replica.host));
    layout = await OciLayout.create(join(work, 'layout'));
    image = await layout.addImage('app', sampleImage({ os: 'linux', architecture: 'amd64' }, 'replicas'));
  });

  after(async () => {
    await balancer?.stop();
    await Promise.all(replicas.map(async (replica) => {
      await replica.stop();
      await replica.cleanup();
    }));
    await Promise.all([ceph?.stop(), postgres?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  const client = (index: number) => new OciClient(replicas[index]!.url);

  it('when the POST, each PATCH and the PUT of one upload land on different replicas, then the blob is whole on every replica', async () => {
    const content = randomBytes(12 * MIB + 321);
    const digest = sha256(content);
    let location = await client(0).startUpload('spread/app');
    const pieces = [content.subarray(0, 3 * MIB), content.subarray(3 * MIB, 9 * MIB), content.subarray(9 * MIB, 12 * MIB)];
    let offset = 0;
    for (const [index, piece] of pieces.entries()) {
      const response = await client(1 + (index % 2)).request(location, {
        method: 'PATCH',
        body: piece,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + piece.length - 1}` },
      });
      assert.equal(response.status, 202, await response.text());
      offset += piece.length;
      assert.equal(response.headers.get('range'), `0-${offset - 1}`);
      location = response.headers.get('location')!;
    }
    const put = await client(0).request(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, { method: 'PUT', body: content.subarray(12 * MIB) });
    assert.equal(put.status, 201, await put.text());
    for (const index of [0, 1, 2]) {
      const head = await client(index).request(`/v2/spread/app/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(content.length));
    }
  });

  it('when a blob is pulled, then the replica redirects to a presigned URL on the object store and those bytes are the blob', async () => {
    const content = randomBytes(2 * MIB);
    const digest = await client(0).pushBlob('redirect/app', content);
    const response = await client(2).request(`/v2/redirect/app/blobs/${digest}`);
    assert.equal(response.status, 307);
    const target = new URL(response.headers.get('location')!);
    assert.equal(target.origin, new URL(ceph.endpoint).origin, 'the bytes come from the object store, not from Berth');
    const direct = await fetch(target);
    assert.equal(direct.status, 200);
    assert.equal(sha256(Buffer.from(await direct.arrayBuffer())), digest);
  });

  it('when skopeo and podman push through the load balancer, then each replica serves the same image to the other client', async () => {
    const skopeo = new Skopeo(join(work, 'skopeo'));
    const podman = new Podman(join(work, 'podman'));
    const skopeoDigest = await skopeo.push(layout, 'app', `${balancer.host}/clients/skopeo:1`, { format: 'oci' });
    const podmanDigest = await podman.push(layout, 'app', `${balancer.host}/clients/podman:1`, { format: 'v2s2' });
    for (const replica of replicas) {
      const bySkopeo = await skopeo.pull(`${replica.host}/clients/podman:1`);
      assert.equal(bySkopeo.manifestDigest, podmanDigest);
      assert.deepEqual(bySkopeo.diffIds, image.layers.map((layer) => layer.diffId));
      const byPodman = await podman.pull(`${replica.host}/clients/skopeo:1`);
      assertPulledImage(byPodman, image, { format: 'oci', manifestDigest: skopeoDigest, layerDigests: image.layers.map((layer) => layer.digest) });
    }
  });

  it('when docker pushes through the load balancer, then docker pulls the same image back from every replica', async () => {
    const skopeo = new Skopeo(join(work, 'docker-source'));
    const dockerd = await startDockerd();
    try {
      // docker load takes a docker-archive; skopeo writes one from the test's OCI layout.
      const archive = join(work, 'app.tar');
      await exec('skopeo', ['copy', '--quiet', layout.ref('app'), `docker-archive:${archive}:berth/app:1`]);
      await dockerd.docker(['load', '--input', archive]);
      const imageId = (await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', 'berth/app:1'])).trim();
      assert.equal(imageId, image.config.digest);
      const pushedRef = `${balancer.host}/clients/docker:1`;
      await dockerd.docker(['tag', 'berth/app:1', pushedRef]);
      const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(await dockerd.docker(['push', pushedRef]))?.[1];
      assert.ok(pushed, 'docker push prints the manifest digest');
      await dockerd.docker(['rmi', 'berth/app:1', pushedRef]);
      for (const replica of replicas) {
        const ref = `${replica.host}/clients/docker:1`;
        await dockerd.docker(['pull', ref]);
        const repoDigests = JSON.parse(await dockerd.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref])) as string[];
        assert.ok(repoDigests.includes(`${replica.host}/clients/docker@${pushed}`), repoDigests.join(' '));
        assert.equal((await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', ref])).trim(), imageId);
        await dockerd.docker(['rmi', ref]);
      }
      // What docker pushed is what every other client reads.
      assert.equal((await skopeo.inspect(`${replicas[2]!.host}/clients/docker:1`)).digest, pushed);
    } finally {
      await dockerd.stop();
    }
  });

  it('when one replica collects garbage while the others take pushes, then every pushed image stays whole', async () => {
    // Content a collection may remove: an image pushed then deleted, its layers shared with the
    // pushes that follow. Once the grace has passed its links are stale, and each later push's
    // HEAD of a shared layer races the collection on another replica: the HEAD that answered
    // 200 must keep the layer, or answer 404 so the client uploads it again.
    const shared = ['shared-layer-a', 'shared-layer-b'];
    const doomed = await client(1).pushImage('gc/doomed', 'v1', shared);
    assert.equal((await client(2).request(`/v2/gc/doomed/manifests/${doomed.digest}`, { method: 'DELETE' })).status, 202);
    const staleFrom = Date.now() + GRACE_MS;

    const pushed: { name: string; digest: string; layers: string[] }[] = [];
    let collectionsAfterStale = 0;
    let pushing = true;
    const collecting = (async () => {
      while (pushing) {
        const started = Date.now();
        const response = await client(0).request('/api/v1/gc?deleteUntagged=true', { method: 'POST' });
        assert.ok(response.status === 200 || response.status === 409, `collection: ${response.status} ${await response.text()}`);
        if (response.status === 200 && started > staleFrom) collectionsAfterStale += 1;
      }
    })();
    try {
      await Promise.all([1, 2].map(async (index) => {
        for (let round = 0; round < 8 || collectionsAfterStale < 3; round += 1) {
          const name = `gc/app-${index}`;
          const layers = [...shared, `unique-${index}-${round}`];
          const digest = await pushAsClientsDo(client(index), name, `r${round}`, layers);
          pushed.push({ name, digest, layers });
        }
      }));
    } finally {
      pushing = false;
      await collecting;
    }
    // And once more after them: nothing tagged may go.
    assert.equal((await client(0).request('/api/v1/gc?deleteUntagged=true', { method: 'POST' })).status, 200);
    for (const { name, digest, layers } of pushed) {
      const manifest = await client(2).request(`/v2/${name}/manifests/${digest}`);
      assert.equal(manifest.status, 200, `${name}@${digest}`);
      for (const layer of layers) {
        const blob = await client(1).request(`/v2/${name}/blobs/${sha256(layer)}`, { method: 'HEAD' });
        assert.equal(blob.status, 200, `${name}: layer ${layer}`);
      }
    }
    const doomedLayer = await client(0).request(`/v2/gc/doomed/blobs/${sha256(shared[0]!)}`, { method: 'HEAD' });
    assert.equal(doomedLayer.status, 404, 'the deleted image was collected meanwhile');
  });

  it('when one image is pushed into many repositories at once across replicas, then every mount and manifest PUT succeeds', async () => {
    const { body, manifest } = await client(0).pushImage('fanout/base', 'v1', ['fanout-layer']);
    const digests = [(manifest.config as { digest: string }).digest, ...(manifest.layers as { digest: string }[]).map((layer) => layer.digest)];
    const failures: string[] = [];
    const repositories = Array.from({ length: 48 }, (_, index) => `fanout/r${index}`);
    // 16 at a time, as a CI fleet pushing the same base image into its repositories does.
    const queue = [...repositories];
    await Promise.all(Array.from({ length: 16 }, async (_, worker) => {
      for (let name = queue.shift(); name; name = queue.shift()) {
        const replica = client((worker + repositories.indexOf(name)) % 3);
        for (const digest of digests) {
          const mounted = await replica.request(`/v2/${name}/blobs/uploads/?mount=${digest}&from=fanout/base`, { method: 'POST' });
          if (mounted.status !== 201) failures.push(`mount ${digest} into ${name}: ${mounted.status} ${await mounted.text()}`);
        }
        const put = await replica.putManifest(name, 'v1', body, 'application/vnd.oci.image.manifest.v1+json');
        if (put.status !== 201) failures.push(`manifest PUT ${name}: ${put.status} ${await put.text()}`);
      }
    }));
    assert.deepEqual(failures, [], replicas.map((replica) => replica.output().split('\n').filter((line) => line.includes('"level":50')).join('\n')).join('\n'));
    for (const name of repositories) assert.equal((await client(2).request(`/v2/${name}/manifests/v1`, { method: 'HEAD' })).status, 200, name);
  });

  it('when pushes to one quota land on different replicas at once, then together they stay within it', async () => {
    const blobs = Array.from({ length: 12 }, () => randomBytes(40 * 1024));
    const results = await Promise.all(blobs.map((blob, index) =>
      client(index % 3).request(`/v2/quota/app-${index % 4}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob })));
    const stored = results.filter((response) => response.status === 201).length;
    const refused = results.filter((response) => response.status === 403).length;
    assert.equal(stored + refused, blobs.length, `statuses: ${results.map((response) => response.status).join(',')}`);
    assert.equal(stored, Math.floor(QUOTA / (40 * 1024)), 'exactly as many blobs as fit');
  });

  it('when a replica is killed mid-chunk, then another replica resumes the upload from the last acknowledged byte', async () => {
    const content = randomBytes(11 * MIB);
    const digest = sha256(content);
    const location = await client(1).startUpload('resume/app');
    const first = await client(1).request(location, { method: 'PATCH', body: content.subarray(0, 6 * MIB), headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(first.status, 202);
    // The second chunk is half sent when its replica dies.
    const victim = replicas[1]!;
    const aborted = sendHalf(victim.port, location, content.subarray(6 * MIB, 11 * MIB));
    await aborted.halfSent;
    await victim.kill();
    await aborted.closed;

    const status = await client(2).request(location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${6 * MIB - 1}`, 'only the acknowledged chunk counts');
    const rest = await client(2).request(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, {
      method: 'PUT',
      body: content.subarray(6 * MIB),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(rest.status, 201, await rest.text());
    const pulled = await client(0).request(`/v2/resume/app/blobs/${digest}`, { redirect: 'follow' });
    assert.equal(sha256(Buffer.from(await pulled.arrayBuffer())), digest);
    // The replica comes back on the same bucket and database.
    replicas[1] = await startServer({ config });
  });
});

/**
 * A push as docker and skopeo make it: HEAD each blob and upload those missing, then the
 * manifest; a manifest refused for a missing blob (a collection removed it after the HEAD, or
 * the push outlasted the grace) uploads what is missing and tries again.
 */
async function pushAsClientsDo(client: OciClient, name: string, tag: string, layers: string[]): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, tag }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: Buffer.byteLength(layer) })),
  }));
  for (let attempt = 1; ; attempt += 1) {
    for (const blob of [config, ...layers.map((layer) => Buffer.from(layer))]) {
      const head = await client.request(`/v2/${name}/blobs/${sha256(blob)}`, { method: 'HEAD' });
      if (head.status === 404) await client.pushBlob(name, blob);
      else assert.equal(head.status, 200);
    }
    const response = await client.putManifest(name, tag, manifest, 'application/vnd.oci.image.manifest.v1+json');
    if (response.status === 201) return sha256(manifest);
    const body = await response.text();
    assert.ok(response.status === 400 && body.includes('MANIFEST_BLOB_UNKNOWN') && attempt < 5, `manifest push: ${response.status} ${body}`);
  }
}

/** A PATCH whose body is sent halfway and then held open (the replica is killed before the rest). */
function sendHalf(port: number, path: string, body: Buffer): { halfSent: Promise<void>; closed: Promise<void> } {
  const outgoing = request({ host: '127.0.0.1', port, path, method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length } });
  const closed = new Promise<void>((resolve) => {
    outgoing.on('error', () => resolve());
    outgoing.on('close', () => resolve());
  });
  const halfSent = new Promise<void>((resolve) => outgoing.write(body.subarray(0, body.length / 2), () => resolve()));
  return { halfSent, closed };
}
