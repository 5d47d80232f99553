import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciLayout, sampleImage, type BuiltImage } from '../support/images.js';
import { startServer, type RunningServer } from '../support/server.js';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { Skopeo } from './registry-clients.js';

/**
 * The Docker engine with `registry-mirrors` pointing at Berth: dockerd asks the mirror for
 * `/v2/library/<name>/…` with no hint of the upstream, so bare names go to the default group,
 * whose proxy member fetches from a loopback upstream. Then a push to the group and a pull back.
 */
describe('the Docker engine pulls through Berth as its registry mirror and pushes to the group', () => {
  let work: string;
  let upstream: RunningServer;
  let berth: RunningServer;
  let dockerd: Dockerd;
  let image: BuiltImage;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-d-'));
    const layout = await OciLayout.create(join(work, 'layout'));
    image = await layout.addImage('base', sampleImage({ os: 'linux', architecture: 'amd64' }, 'docker'));
    upstream = await startServer();
    await new Skopeo(join(work, 'publisher')).push(layout, 'base', `${upstream.host}/library/berthbase:v1`, { format: 'v2s2' });
    berth = await startServer({
      config: {
        repositories: {
          default: 'all',
          items: [
            { name: 'hub', kind: 'proxy', upstream: { url: upstream.url } },
            { name: 'internal', kind: 'hosted' },
            { name: 'all', kind: 'group', members: ['internal', 'hub'], writablemember: 'internal' },
          ],
        },
      },
    });
    dockerd = await startDockerd({ registryMirrors: [berth.url] });
  });

  after(async () => {
    await dockerd?.stop();
    await berth?.stop();
    await berth?.cleanup();
    await upstream?.stop();
    await upstream?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('when docker pulls a Hub name, then the mirror serves it from the proxied upstream, digest by digest; a push to the group pulls back through the hosted member', async () => {
    const skopeo = new Skopeo(join(work, 'inspector'));
    const expected = (await skopeo.inspect(`${upstream.host}/library/berthbase:v1`)).digest;
    await dockerd.docker(['pull', 'berthbase:v1']);
    const repoDigests = JSON.parse(await dockerd.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', 'berthbase:v1'])) as string[];
    assert.ok(repoDigests.includes(`berthbase@${expected}`), repoDigests.join(' '));
    const configId = (await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', 'berthbase:v1'])).trim();
    assert.equal(configId, image.config.digest);
    assert.equal((await fetch(`${berth.url}/v2/hub/library/berthbase/manifests/${expected}`, { method: 'HEAD' })).status, 200, 'cached by the proxy');

    await dockerd.docker(['tag', 'berthbase:v1', `${berth.host}/all/team/app:1.0`]);
    await dockerd.docker(['push', `${berth.host}/all/team/app:1.0`]);
    // docker recompresses layers it pulled from "docker.io" when pushing elsewhere: the config (and so the
    // uncompressed layers it names) is what must arrive unchanged.
    const pushed = await skopeo.inspect(`${berth.host}/internal/team/app:1.0`);
    assert.equal(pushed.manifest.config?.digest, image.config.digest);
    assert.equal((pushed.manifest.layers ?? []).length, image.layers.length);
    assert.equal((await skopeo.inspect(`${berth.host}/all/team/app:1.0`)).digest, pushed.digest, 'the group serves what its writable member holds');
    const pulled = await skopeo.pull(`${berth.host}/all/team/app:1.0`);
    assert.deepEqual(pulled.diffIds, image.layers.map((layer) => layer.diffId), 'uncompressed layers, digest by digest');
  });
});
