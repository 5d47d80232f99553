import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciLayout, sampleImage, type BuiltImage } from '../support/images.js';
import { startServer, type RunningServer } from '../support/server.js';
import { Skopeo } from './registry-clients.js';

/** Repository policies as a real client meets them: skopeo must see each denial and its reason. */
describe('skopeo meets repository policies', () => {
  let server: RunningServer;
  let work: string;
  let layout: OciLayout;
  let first: BuiltImage;
  let skopeo: Skopeo;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-p-'));
    layout = await OciLayout.create(join(work, 'layout'));
    first = await layout.addImage('first', sampleImage({ os: 'linux', architecture: 'amd64' }, 'first'));
    await layout.addImage('second', sampleImage({ os: 'linux', architecture: 'amd64' }, 'second'));
    server = await startServer({
      config: {
        policies: [
          { match: 'releases/*', deployment: 'disable-redeploy' },
          { match: 'frozen/*', deployment: 'read-only' },
          { match: 'tiny', quota: { limit: '8KiB' } },
        ],
      },
    });
    skopeo = new Skopeo(join(work, 'skopeo'));
  });
  after(async () => {
    await server.stop();
    await server.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('when a tag is pushed again with other content under disable-redeploy, then skopeo fails with the reason and the tag is unchanged', async () => {
    const digest = await skopeo.push(layout, 'first', `${server.host}/releases/app:1.0`, { format: 'oci' });
    assert.equal(digest, first.manifest.digest);
    await assert.rejects(skopeo.push(layout, 'second', `${server.host}/releases/app:1.0`, { format: 'oci' }), /denied.*disable-redeploy/is);
    assert.equal((await skopeo.inspect!(`${server.host}/releases/app:1.0`)).digest, first.manifest.digest);
    assert.equal(await skopeo.push(layout, 'second', `${server.host}/releases/app:1.1`, { format: 'oci' }), (await skopeo.inspect!(`${server.host}/releases/app:1.1`)).digest);
  });

  it('when skopeo pushes to a read-only repository, then it fails with the reason', async () => {
    await assert.rejects(skopeo.push(layout, 'first', `${server.host}/frozen/app:1.0`, { format: 'oci' }), /denied.*read-only/is);
    assert.equal((await fetch(`${server.url}/v2/frozen/app/tags/list`)).status, 404, 'nothing was created');
  });

  it('when a push would exceed the quota, then skopeo fails with the reason and no tag appears', async () => {
    await assert.rejects(skopeo.push(layout, 'first', `${server.host}/tiny:1.0`, { format: 'oci' }), /denied.*quota exceeded/is);
    const tags = await fetch(`${server.url}/v2/tiny/tags/list`);
    if (tags.status === 200) assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, []);
    else assert.equal(tags.status, 404);
  });
});
