import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciLayout, sampleImage, type BuiltImage } from '../support/images.js';
import { startServer, type RunningServer } from '../support/server.js';
import { Containerd } from './containerd.js';
import { Skopeo } from './registry-clients.js';

/**
 * containerd's `ctr` with `--hosts-dir`: Berth mirrors a loopback upstream, containerd sends
 * `?ns=<upstream host>` on every manifest and blob request, and Berth's proxy of that host answers.
 */
describe('containerd pulls through a Berth mirror with ?ns=', () => {
  let work: string;
  let upstream: RunningServer;
  let berth: RunningServer;
  let containerd: Containerd;
  let image: BuiltImage;

  before(async () => {
    // Short: containerd's socket path must stay within 108 characters.
    work = await mkdtemp(join(tmpdir(), 'berth-ctr-'));
    const layout = await OciLayout.create(join(work, 'layout'));
    image = await layout.addImage('base', sampleImage({ os: 'linux', architecture: 'amd64' }, 'ctr'));
    upstream = await startServer();
    await new Skopeo(join(work, 'publisher')).push(layout, 'base', `${upstream.host}/library/base:v1`, { format: 'oci' });
    berth = await startServer({ config: { repositories: { items: [{ name: 'hub', kind: 'proxy', upstream: { url: upstream.url } }] } } });
    containerd = new Containerd(work);
    await containerd.start();
  });

  after(async () => {
    await containerd?.stop();
    await berth?.stop();
    await berth?.cleanup();
    await upstream?.stop();
    await upstream?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('when ctr pulls the upstream\'s image through the mirror, then Berth\'s proxy serves and caches it, digest by digest', async () => {
    const hosts = await containerd.mirror(upstream.host, berth.url);
    const ref = `${upstream.host}/library/base:v1`;
    await containerd.ctr(['images', 'pull', '--hosts-dir', hosts, '--platform', 'linux/amd64', ref]);
    const listed = await containerd.ctr(['images', 'ls']);
    const line = listed.split('\n').find((entry) => entry.startsWith(ref));
    assert.ok(line, listed);
    assert.ok(line.includes(image.manifest.digest), `ctr recorded ${line}`);

    // What containerd fetched went through Berth's proxy: with the upstream stopped, Berth still has it all.
    await upstream.stop();
    const manifest = await fetch(`${berth.url}/v2/hub/library/base/manifests/${image.manifest.digest}`);
    assert.equal(manifest.status, 200);
    for (const digest of [image.config.digest, ...image.layers.map((layer) => layer.digest)]) {
      const blob = await fetch(`${berth.url}/v2/hub/library/base/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(blob.status, 200, digest);
    }
    const withNamespace = await fetch(`${berth.url}/v2/library/base/manifests/v1?ns=${upstream.host}`, { method: 'HEAD' });
    assert.equal(withNamespace.headers.get('oci-namespace'), upstream.host);
  });
});
