import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TimeSeams } from '../../src/app.js';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { OciClient, errorCode } from '../support/oci-client.js';
import { ManualClock, ManualScheduler } from '../support/time.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MIB = 1024 * 1024;

/** Reads a body to the end, hashing it; a connection broken mid-body rejects. */
async function digestOfBody(response: Response): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * A proxy repository over a real upstream (a second Berth on loopback) with a fault-injecting
 * HTTP proxy between them, a hosted repository and a group of both, in one registry.
 */
describe('proxy and group repositories', () => {
  let upstream: TestRegistry;
  let fault: FaultProxy;
  let registry: TestRegistry;
  let client: OciClient;
  let publisher: OciClient;
  const clock = new ManualClock();
  let alpine: { digest: string; body: Buffer; manifest: Record<string, unknown> };

  before(async () => {
    upstream = await startInProcess();
    publisher = new OciClient(upstream.url);
    alpine = await publisher.pushImage('library/alpine', '3.20', ['alpine-layer-1', 'alpine-layer-2']);
    fault = await new FaultProxy(upstream.url).start();
    registry = await startInProcess({
      repositories: {
        default: 'all',
        items: [
          { name: 'hub', kind: 'proxy', upstream: { url: fault.url }, revalidate: '5m', staleiferror: '1h' },
          { name: 'internal', kind: 'hosted' },
          { name: 'all', kind: 'group', members: ['internal', 'hub'], writablemember: 'internal' },
        ],
      },
    }, undefined, { clock: clock.now });
    client = new OciClient(registry.url);
  });
  after(async () => {
    await registry?.destroy();
    await fault?.stop();
    await upstream?.destroy();
  });

  it('when an image is pulled through the proxy, then manifest and blobs match the upstream digest by digest, and the cache serves them with the upstream stopped', async () => {
    const response = await client.request('/v2/hub/library/alpine/manifests/3.20', { headers: { Accept: OCI_MANIFEST } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('docker-content-digest'), alpine.digest);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), alpine.body);
    const layers = (alpine.manifest.layers as { digest: string }[]).map((layer) => layer.digest);
    for (const digest of layers) {
      const blob = await client.request(`/v2/hub/library/alpine/blobs/${digest}`);
      assert.equal(blob.status, 200);
      assert.equal(await digestOfBody(blob), digest);
    }

    await fault.stop();
    try {
      const cached = await client.request(`/v2/hub/library/alpine/manifests/${alpine.digest}`);
      assert.equal(cached.status, 200);
      assert.deepEqual(Buffer.from(await cached.arrayBuffer()), alpine.body);
      const byTag = await client.request('/v2/hub/library/alpine/manifests/3.20');
      assert.equal(byTag.headers.get('docker-content-digest'), alpine.digest);
      for (const digest of layers) assert.equal(await digestOfBody(await client.request(`/v2/hub/library/alpine/blobs/${digest}`)), digest);
    } finally {
      await fault.restart();
    }
  });

  it('when a cached tag is pulled within revalidate, then the upstream is not asked; after it, one HEAD, and a GET only when the digest changed', async () => {
    await client.request('/v2/hub/library/alpine/manifests/3.20');
    const heads = () => fault.count('HEAD', /\/manifests\/3\.20$/);
    const gets = () => fault.count('GET', /\/manifests\//);
    const [headsBefore, getsBefore] = [heads(), gets()];
    assert.equal((await client.request('/v2/hub/library/alpine/manifests/3.20')).status, 200);
    assert.equal(heads(), headsBefore, 'no HEAD within revalidate');

    clock.advance(6 * 60_000);
    assert.equal((await client.request('/v2/hub/library/alpine/manifests/3.20')).status, 200);
    assert.equal(heads(), headsBefore + 1);
    assert.equal(gets(), getsBefore, 'same digest: no GET');

    const updated = await publisher.pushImage('library/alpine', '3.20', ['alpine-layer-3']);
    clock.advance(6 * 60_000);
    const response = await client.request('/v2/hub/library/alpine/manifests/3.20');
    assert.equal(response.headers.get('docker-content-digest'), updated.digest);
    assert.equal(heads(), headsBefore + 2);
    assert.equal(gets(), getsBefore + 1);
    alpine = updated;
  });

  it('when the upstream answers 429 with Retry-After or 503, then a cached tag is served within staleiferror, and UNAVAILABLE after it', async () => {
    await client.request('/v2/hub/library/alpine/manifests/3.20');
    for (const injected of [{ status: 429, headers: { 'Retry-After': '1' } }, { status: 503 }]) {
      fault.fault = { match: /\/manifests\//, fault: { kind: 'status', ...injected } };
      clock.advance(6 * 60_000);
      const response = await client.request('/v2/hub/library/alpine/manifests/3.20');
      assert.equal(response.status, 200, `with ${injected.status}`);
      assert.equal(response.headers.get('docker-content-digest'), alpine.digest);
    }
    clock.advance(2 * 3_600_000);
    const stale = await client.request('/v2/hub/library/alpine/manifests/3.20');
    assert.equal(stale.status, 503);
    assert.equal(await errorCode(stale), 'UNAVAILABLE');
    fault.fault = undefined;
    clock.advance(2 * 60_000); // past the circuit breaker's backoff
    assert.equal((await client.request('/v2/hub/library/alpine/manifests/3.20')).status, 200);
  });

  it('when 16 clients pull one cold 64 MiB layer at once, then the upstream sends it exactly once and every client gets the right bytes', async () => {
    const big = randomBytes(64 * MIB);
    const digest = await publisher.pushBlob('big/layer', big);
    const before = fault.blobBytes;
    const results = await Promise.all(Array.from({ length: 16 }, async () => {
      const response = await client.request(`/v2/hub/big/layer/blobs/${digest}`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-length'), String(big.length));
      return digestOfBody(response);
    }));
    assert.deepEqual(results, Array(16).fill(digest));
    assert.equal(fault.blobBytes - before, big.length);
    assert.equal(fault.count('GET', new RegExp(`/blobs/${digest}$`)), 1);
  });

  it('when the upstream breaks mid-body, then every waiting client fails and nothing is cached; the next pull fetches it whole', async () => {
    const blob = randomBytes(8 * MIB);
    const digest = await publisher.pushBlob('broken/layer', blob);
    fault.fault = { match: new RegExp(`/blobs/${digest}$`), fault: { kind: 'reset-after', bytes: 2 * MIB } };
    const outcomes = await Promise.allSettled(Array.from({ length: 4 }, async () => digestOfBody(await client.request(`/v2/hub/broken/layer/blobs/${digest}`))));
    for (const outcome of outcomes) assert.equal(outcome.status, 'rejected');
    fault.fault = undefined;
    clock.advance(2 * 60_000);
    const before = fault.blobBytes;
    assert.equal(await digestOfBody(await client.request(`/v2/hub/broken/layer/blobs/${digest}`)), digest);
    assert.equal(fault.blobBytes - before, blob.length, 'fetched again: the broken fill committed nothing');
  });

  it('when the upstream sends a blob slowly, then readers that join mid-fill stream it as it arrives and all get the right bytes from one fetch', async () => {
    const blob = randomBytes(2 * MIB);
    const digest = await publisher.pushBlob('slow/layer', blob);
    fault.fault = { match: new RegExp(`/blobs/${digest}$`), fault: { kind: 'slow', delayMs: 5 } };
    try {
      const first = await client.request(`/v2/hub/slow/layer/blobs/${digest}`);
      const firstDigest = digestOfBody(first);
      const later = await Promise.all(Array.from({ length: 3 }, () => client.request(`/v2/hub/slow/layer/blobs/${digest}`).then(digestOfBody)));
      assert.deepEqual([await firstDigest, ...later], Array(4).fill(digest));
      assert.equal(fault.count('GET', new RegExp(`/blobs/${digest}$`)), 1);
    } finally {
      fault.fault = undefined;
    }
  });

  it('when the only client disconnects mid-fill, then the fill goes on: a later pull joins it and the blob is cached', async () => {
    const blob = randomBytes(8 * MIB);
    const digest = await publisher.pushBlob('abandoned/layer', blob);
    const leaving = new AbortController();
    const first = await client.request(`/v2/hub/abandoned/layer/blobs/${digest}`, { signal: leaving.signal });
    const reader = (first.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    leaving.abort();
    await reader.cancel().catch(() => undefined);

    assert.equal(await digestOfBody(await client.request(`/v2/hub/abandoned/layer/blobs/${digest}`)), digest);
    assert.equal(fault.count('GET', new RegExp(`/blobs/${digest}$`)), 1, 'fetched once: the fill outlived the client that started it');
    await fault.stop();
    try {
      assert.equal(await digestOfBody(await client.request(`/v2/hub/abandoned/layer/blobs/${digest}`)), digest);
    } finally {
      await fault.restart();
    }
  });

  it('when a client asks for a range of a cold blob, then 206 streams that range from the fill and the whole blob is cached', async () => {
    const blob = randomBytes(3 * MIB);
    const digest = await publisher.pushBlob('ranged/layer', blob);
    const response = await client.request(`/v2/hub/ranged/layer/blobs/${digest}`, { headers: { Range: 'bytes=1048576-1048585' } });
    assert.equal(response.status, 206);
    assert.equal(response.headers.get('content-range'), `bytes 1048576-1048585/${blob.length}`);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), blob.subarray(1048576, 1048586));
    assert.equal(await digestOfBody(await client.request(`/v2/hub/ranged/layer/blobs/${digest}`)), digest);
    assert.equal(fault.count('GET', new RegExp(`/blobs/${digest}$`)), 1);
  });

  it('when the upstream keeps failing, then the circuit opens: further misses fail at once without reaching it, until the backoff has passed', async () => {
    fault.fault = { match: /\/manifests\/|\/blobs\//, fault: { kind: 'status', status: 503 } };
    try {
      for (let attempt = 0; attempt < 3; attempt++) assert.equal((await client.request(`/v2/hub/dead/image${attempt}/manifests/v1`)).status, 503);
      const reached = fault.requests.length;
      const refused = await client.request('/v2/hub/dead/other/manifests/v1');
      assert.equal(refused.status, 503);
      assert.equal(await errorCode(refused), 'UNAVAILABLE');
      assert.equal(fault.requests.length, reached, 'the open circuit did not reach the upstream');
      clock.advance(61_000);
      fault.fault = undefined;
      assert.equal((await client.request('/v2/hub/library/alpine/manifests/3.20')).status, 200, 'the probe after the backoff closes it');
    } finally {
      fault.fault = undefined;
    }
  });

  it('when a push to the group checks a layer the proxy cached, then HEAD finds it and links it into the writable member', async () => {
    const layer = (alpine.manifest.layers as { digest: string }[])[0]!.digest;
    await client.request(`/v2/hub/library/alpine/blobs/${layer}`).then((r) => r.arrayBuffer());
    assert.equal((await client.request(`/v2/internal/library/alpine/blobs/${layer}`, { method: 'HEAD' })).status, 404);
    assert.equal((await client.request(`/v2/all/library/alpine/blobs/${layer}`, { method: 'HEAD' })).status, 200);
    assert.equal((await client.request(`/v2/internal/library/alpine/blobs/${layer}`, { method: 'HEAD' })).status, 200);
  });

  it('when a client pushes to the proxy, then DENIED says why', async () => {
    const response = await client.request('/v2/hub/team/app/blobs/uploads/', { method: 'POST' });
    assert.equal(response.status, 403);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]!.code, 'DENIED');
    assert.match(body.errors[0]!.message, /pull-through cache/);
  });

  it('when an image is pushed to the group, then it lands in the writable member and pulls back through both names', async () => {
    const pushed = await client.pushImage('all/team/app', '1.0', ['team-layer']);
    for (const name of ['all/team/app', 'internal/team/app']) {
      const response = await client.request(`/v2/${name}/manifests/1.0`);
      assert.equal(response.status, 200, name);
      assert.equal(response.headers.get('docker-content-digest'), pushed.digest);
    }
    assert.equal((await client.request('/v2/hub/team/app/manifests/1.0')).status, 404);
    assert.ok(await registry.app.registry.metadata.repositoryExists('internal/team/app' as never), 'stored under the name it would have had without repositories');
  });

  it('when a group pulls a tag only the proxy member has, then it comes from the upstream; tags/list is the sorted union, paged', async () => {
    const response = await client.request('/v2/all/library/alpine/manifests/3.20');
    assert.equal(response.headers.get('docker-content-digest'), alpine.digest);
    await client.pushImage('all/library/alpine', 'local', ['local-layer']);
    const tags = (await (await client.request('/v2/all/library/alpine/tags/list')).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['3.20', 'local']);
    const page = await client.request('/v2/all/library/alpine/tags/list?n=1');
    assert.deepEqual(((await page.json()) as { tags: string[] }).tags, ['3.20']);
    assert.match(page.headers.get('link') ?? '', /last=3\.20/);
  });

  it('when a push to the group mounts a layer the proxy cached, then it is linked without an upload', async () => {
    const layer = (alpine.manifest.layers as { digest: string }[])[0]!.digest;
    await client.request(`/v2/hub/library/alpine/blobs/${layer}`).then((r) => r.arrayBuffer());
    const mount = await client.request(`/v2/all/team/base/blobs/uploads/?mount=${layer}&from=all/library/alpine`, { method: 'POST' });
    assert.equal(mount.status, 201);
    assert.equal((await client.request(`/v2/internal/team/base/blobs/${layer}`, { method: 'HEAD' })).status, 200);
  });

  it('when the catalog is listed, then each member image also appears under the group\'s name', async () => {
    const body = (await (await client.request('/v2/_catalog')).json()) as { repositories: string[] };
    for (const name of ['internal/team/app', 'all/team/app', 'hub/library/alpine', 'all/library/alpine']) assert.ok(body.repositories.includes(name), `${name} in ${body.repositories.join(' ')}`);
    assert.deepEqual(body.repositories, [...body.repositories].sort());
    const page = await client.request('/v2/_catalog?n=1&last=all/library/alpine');
    assert.deepEqual(((await page.json()) as { repositories: string[] }).repositories, [body.repositories[body.repositories.indexOf('all/library/alpine') + 1]]);
  });

  it('when a bare name is used, then the default group answers (dockerd registry-mirrors), and a push lands in its writable member', async () => {
    const response = await client.request('/v2/library/alpine/manifests/3.20');
    assert.equal(response.headers.get('docker-content-digest'), alpine.digest);
    const pushed = await client.pushImage('bare/app', 'v1', ['bare-layer']);
    const stored = await client.request('/v2/internal/bare/app/manifests/v1');
    assert.equal(stored.headers.get('docker-content-digest'), pushed.digest);
  });

  it('when containerd names the upstream with ?ns=, then the proxy of that host answers with OCI-Namespace', async () => {
    const host = new URL(fault.url).host;
    const response = await client.request(`/v2/library/alpine/manifests/3.20?ns=${host}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('oci-namespace'), host);
    assert.equal(response.headers.get('docker-content-digest'), alpine.digest);
  });
});

describe('repositories introduced over existing content', () => {
  it('when repositories are configured after images were pushed, then those images stay reachable under their names', async () => {
    const first = await startInProcess();
    const pushed = await new OciClient(first.url).pushImage('team/old', '1');
    await first.close();
    const second = await startInProcess({
      repositories: { default: 'all', items: [{ name: 'internal', kind: 'hosted' }, { name: 'all', kind: 'group', members: ['internal'], writablemember: 'internal' }] },
    }, first.dataDir);
    try {
      const response = await new OciClient(second.url).request('/v2/team/old/manifests/1');
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('docker-content-digest'), pushed.digest);
    } finally {
      await second.destroy();
    }
  });
});


describe('registry:2\'s proxy section', () => {
  it('when proxy.remoteurl is set, then bare names are a pull-through cache of that upstream, as registry:2 mirrors', async () => {
    const upstream = await startInProcess();
    const registry = await startInProcess({ proxy: { remoteurl: upstream.url } });
    try {
      const pushed = await new OciClient(upstream.url).pushImage('library/busybox', 'latest', ['busybox-layer']);
      const client = new OciClient(registry.url);
      const response = await client.request('/v2/library/busybox/manifests/latest');
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('docker-content-digest'), pushed.digest);
      const layer = (pushed.manifest.layers as { digest: string }[])[0]!.digest;
      assert.equal(await digestOfBody(await client.request(`/v2/library/busybox/blobs/${layer}`)), layer);
      assert.equal((await client.request('/v2/library/busybox/blobs/uploads/', { method: 'POST' })).status, 403);
    } finally {
      await registry.destroy();
      await upstream.destroy();
    }
  });
});

/**
 * A Berth whose configuration (from `configure`, given the upstream's address) names an upstream
 * registry behind a FaultProxy; all three are stopped when `test` ends, whatever it did.
 */
async function withFaultyUpstream(
  configure: (upstreamUrl: string) => Record<string, unknown>,
  test: (servers: { upstream: TestRegistry; fault: FaultProxy; registry: TestRegistry }) => Promise<void>,
  dataDir?: string,
  time?: TimeSeams,
): Promise<void> {
  const upstream = await startInProcess();
  const fault = await new FaultProxy(upstream.url).start();
  try {
    const registry = await startInProcess(configure(fault.url), dataDir, time);
    try {
      await test({ upstream, fault, registry });
    } finally {
      await registry.destroy();
    }
  } finally {
    await fault.stop();
    await upstream.destroy();
  }
}

describe('registry:2\'s proxy section with ttl', () => {
  it('when the mirror\'s ttl passes, then images it fetched are removed and fetched again, while images pushed before it was configured stay and keep answering by tag', async () => {
    const hosted = await startInProcess();
    const pushedBefore = await new OciClient(hosted.url).pushImage('team/app', 'v1', ['team layer']);
    await hosted.close();
    const clock = new ManualClock();
    const scheduler = new ManualScheduler();
    await withFaultyUpstream((url) => ({ proxy: { remoteurl: url, ttl: '1h' } }), async ({ upstream, fault, registry }) => {
      await new OciClient(upstream.url).pushImage('library/busybox', 'latest', ['busybox-layer']);
      const client = new OciClient(registry.url);
      assert.equal((await client.request('/v2/library/busybox/manifests/latest')).status, 200);
      clock.advance(2 * 3_600_000);
      await scheduler.run('proxy-expiry:proxy');

      const metadata = registry.app.registry.metadata;
      assert.equal(await metadata.repositoryExists('library/busybox' as never), false, 'fetched by the mirror, unused for 2 h: expired');
      assert.equal(await metadata.repositoryExists('team/app' as never), true, 'pushed before the mirror: never expired');
      const pushedTag = await client.request('/v2/team/app/manifests/v1');
      assert.equal(pushedTag.status, 200, 'a pushed tag the upstream lacks is answered from storage, as registry:2 does');
      assert.equal(pushedTag.headers.get('docker-content-digest'), pushedBefore.digest);
      assert.equal((await client.request('/v2/team/app/manifests/v2')).status, 404, 'a tag nobody has is still unknown');
      const fetchesBefore = fault.count('GET', /\/library\/busybox\/manifests\//);
      assert.equal((await client.request('/v2/library/busybox/manifests/latest')).status, 200);
      assert.equal(fault.count('GET', /\/library\/busybox\/manifests\//), fetchesBefore + 1, 'an expired image is fetched again');
    }, hosted.dataDir, { clock: clock.now, scheduler });
  });
});

describe('a proxy whose upstream stalls', () => {
  it('when the upstream body stops arriving for upstream.timeout, then the fill fails its readers, caches nothing, and the next pull fetches afresh', async () => {
    await withFaultyUpstream((url) => ({ repositories: { items: [{ name: 'hub', kind: 'proxy', upstream: { url, timeout: '300ms' } }] } }), async ({ upstream, fault, registry }) => {
      const blob = randomBytes(2 * MIB);
      const digest = await new OciClient(upstream.url).pushBlob('stalling/layer', blob);
      const client = new OciClient(registry.url);
      fault.fault = { match: new RegExp(`/blobs/${digest}$`), fault: { kind: 'slow', delayMs: 5_000 } };
      // Depending on whether bytes had reached the client when the fill failed: a broken body, or a 503.
      const stalled = await client.request(`/v2/hub/stalling/layer/blobs/${digest}`);
      if (stalled.status === 200) await assert.rejects(digestOfBody(stalled));
      else assert.equal(await errorCode(stalled), 'UNAVAILABLE');
      fault.fault = undefined;
      assert.equal(await digestOfBody(await client.request(`/v2/hub/stalling/layer/blobs/${digest}`)), digest);
      assert.equal(fault.count('GET', new RegExp(`/blobs/${digest}$`)), 2, 'the stalled fill was abandoned, not joined');
    });
  });
});

describe('a proxy with maxsize', () => {
  it('when cached images exceed maxsize, then the least recently pulled image is evicted and the newer ones stay', async () => {
    await withFaultyUpstream((url) => ({ repositories: { items: [{ name: 'hub', kind: 'proxy', upstream: { url }, maxsize: '25KiB' }] } }), async ({ upstream, fault, registry }) => {
      const publisher = new OciClient(upstream.url);
      const client = new OciClient(registry.url);
      const pullAll = async (name: string) => {
        const manifest = await client.request(`/v2/hub/${name}/manifests/v1`);
        assert.equal(manifest.status, 200);
        const body = (await manifest.json()) as { config: { digest: string }; layers: { digest: string }[] };
        for (const { digest } of [body.config, ...body.layers]) {
          assert.equal(await digestOfBody(await client.request(`/v2/hub/${name}/blobs/${digest}`)), digest);
          // A blob just pulled is cached (its commit, and the eviction after it, finish before HEAD answers).
          assert.equal((await client.request(`/v2/hub/${name}/blobs/${digest}`, { method: 'HEAD' })).status, 200);
        }
      };
      for (const name of ['first/app', 'second/app', 'third/app']) {
        await publisher.pushImage(name, 'v1', [randomBytes(10 * 1024).toString('base64').slice(0, 10 * 1024)]);
        await pullAll(name);
      }
      const metadata = registry.app.registry.metadata;
      assert.equal(await metadata.repositoryExists('hub/first/app' as never), false, 'least recently pulled: evicted');
      assert.equal(await metadata.repositoryExists('hub/second/app' as never), true);
      assert.equal(await metadata.repositoryExists('hub/third/app' as never), true);
      const fetchesBefore = fault.count('GET', /\/first\/app\/manifests\//);
      await pullAll('first/app');
      assert.equal(fault.count('GET', /\/first\/app\/manifests\//), fetchesBefore + 1, 'an evicted image is fetched again');
    });
  });
});

describe('a proxy with ttl', () => {
  it('when a cached image is neither pulled nor fetched for ttl, then expiry removes it while a recently pulled one stays; the expired one is fetched again', async () => {
    const clock = new ManualClock();
    const scheduler = new ManualScheduler();
    await withFaultyUpstream((url) => ({ repositories: { items: [{ name: 'hub', kind: 'proxy', upstream: { url }, ttl: '1h' }] } }), async ({ upstream, fault, registry }) => {
      const publisher = new OciClient(upstream.url);
      const client = new OciClient(registry.url);
      const pull = async (name: string) => {
        const manifest = await client.request(`/v2/hub/${name}/manifests/v1`);
        assert.equal(manifest.status, 200);
        const body = (await manifest.json()) as { layers: { digest: string }[] };
        for (const { digest } of body.layers) assert.equal(await digestOfBody(await client.request(`/v2/hub/${name}/blobs/${digest}`)), digest);
      };
      for (const name of ['idle/app', 'busy/app']) {
        await publisher.pushImage(name, 'v1', [`${name} layer`]);
        await pull(name);
      }
      clock.advance(40 * 60_000);
      await pull('busy/app');
      clock.advance(30 * 60_000);
      await scheduler.run('proxy-expiry:hub');

      const metadata = registry.app.registry.metadata;
      assert.equal(await metadata.repositoryExists('hub/idle/app' as never), false, 'unused for 70 minutes: expired');
      assert.equal(await metadata.repositoryExists('hub/busy/app' as never), true, 'pulled 30 minutes ago: kept');
      const fetchesBefore = fault.count('GET', /\/idle\/app\/manifests\//);
      await pull('idle/app');
      assert.equal(fault.count('GET', /\/idle\/app\/manifests\//), fetchesBefore + 1, 'an expired image is fetched again');
    }, undefined, { clock: clock.now, scheduler });
  });
});
