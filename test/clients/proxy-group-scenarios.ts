import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciLayout, sampleImage, type BuiltImage, type Platform } from '../support/images.js';
import { startServer, type RunningServer } from '../support/server.js';
import { Skopeo, type RegistryClient } from './registry-clients.js';
import { assertPulledImage, layerDigests } from './scenarios.js';

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };

/**
 * The seeds' Nexus setup with real clients, written once: an upstream Berth, and a Berth with a
 * proxy of it (`hub`), a hosted repository (`internal`) and a group of both (`all`, pushes to
 * `internal`). Pulls through the proxy and the group, a push to the group pulled back through the
 * group and the hosted member, and a pull through the group with the upstream stopped — every
 * one compared digest by digest with what the test built.
 */
export function proxyGroupScenarios(name: string, create: (workDir: string) => RegistryClient): void {
  describe(`${name} pulls through a proxy and a group and pushes to the group`, () => {
    let upstream: RunningServer;
    let berth: RunningServer;
    let work: string;
    let layout: OciLayout;
    let base: BuiltImage;
    let app: BuiltImage;
    let clients = 0;

    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-pg-'));
      layout = await OciLayout.create(join(work, 'layout'));
      base = await layout.addImage('base', sampleImage(AMD64, 'base'));
      app = await layout.addImage('app', sampleImage(AMD64, 'app'));
      upstream = await startServer();
      await new Skopeo(join(work, 'publisher')).push(layout, 'base', `${upstream.host}/library/base:v1`, { format: 'oci' });
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
    });

    after(async () => {
      await berth?.stop();
      await berth?.cleanup();
      await upstream?.stop();
      await upstream?.cleanup();
      if (work) await rm(work, { recursive: true, force: true });
    });

    async function withClient(test: (client: RegistryClient) => Promise<void>): Promise<void> {
      const dir = join(work, `c${++clients}`);
      try {
        await test(create(dir));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }

    const upstreamImage = () => ({ format: 'oci' as const, manifestDigest: base.manifest.digest, layerDigests: base.layers.map((layer) => layer.digest) });

    it('when an upstream image is pulled through the proxy and through the group, then both match what was pushed upstream, digest by digest', () =>
      withClient(async (client) => {
        assertPulledImage(await client.pull(`${berth.host}/hub/library/base:v1`), base, upstreamImage());
        assertPulledImage(await client.pull(`${berth.host}/all/library/base:v1`), base, upstreamImage());
      }));

    it('when an image is pushed to the group, then it pulls back through the group and the hosted member, digest by digest', () =>
      withClient(async (client) => {
        const pushed = await client.push(layout, 'app', `${berth.host}/all/team/app:1.0`, { format: 'oci' });
        const inspector = new Skopeo(join(work, 'inspector'));
        const layers = layerDigests(await inspector.inspect(`${berth.host}/internal/team/app:1.0`));
        for (const ref of [`${berth.host}/all/team/app:1.0`, `${berth.host}/internal/team/app:1.0`]) {
          assertPulledImage(await client.pull(ref), app, { format: 'oci', manifestDigest: pushed, layerDigests: layers });
        }
      }));

    it('when the upstream is stopped, then the group still serves the image the proxy cached, digest by digest', () =>
      withClient(async (client) => {
        await upstream.stop();
        assertPulledImage(await client.pull(`${berth.host}/all/library/base:v1`), base, upstreamImage());
      }));
  });
}
