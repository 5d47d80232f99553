import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  OciLayout,
  sampleImage,
  type BuiltImage,
  type BuiltIndex,
  type Platform,
} from '../support/images.js';
import { startServer, type RunningServer } from '../support/server.js';
import { Skopeo, type InspectedManifest, type ManifestFormat, type PulledImage, type RegistryClient } from './registry-clients.js';

/**
 * The client scenarios, written once. `clientScenarios(name, create)` runs every one of them with
 * the client `create` makes; each test gets a client with a fresh working directory (and, for
 * podman, a fresh image store).
 *
 * Every expected digest comes from the layout the test wrote itself (test/support/images.ts),
 * never from the server's answers.
 *
 * Where the client under test cannot do a step (podman: remote inspect, delete), the step is done
 * with skopeo and the test says so; what the client can do, it does itself.
 */

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
const ARM64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };
const FORMATS: ManifestFormat[] = ['oci', 'v2s2'];

const MEDIA_TYPES = {
  oci: { manifest: OCI_MANIFEST, index: OCI_INDEX, config: OCI_CONFIG, layer: OCI_LAYER_GZIP },
  v2s2: { manifest: DOCKER_MANIFEST, index: DOCKER_MANIFEST_LIST, config: DOCKER_CONFIG, layer: DOCKER_LAYER_GZIP },
} as const;

export function clientScenarios(name: string, create: (workDir: string) => RegistryClient): void {
  describe(`${name} pushes and pulls through Berth unchanged`, () => {
    let server: RunningServer;
    let work: string;
    let layout: OciLayout;
    let single: BuiltImage;
    let other: BuiltImage;
    let index: BuiltIndex;
    /** skopeo, for the steps the client under test cannot do. */
    let skopeo: Skopeo;
    let clients = 0;

    before(async () => {
      // Short paths: podman's runroot, under a client's directory, must stay within 50 characters.
      work = await mkdtemp(join(tmpdir(), 'berth-c-'));
      layout = await OciLayout.create(join(work, 'layout'));
      single = await layout.addImage('single', sampleImage(AMD64, 'single'));
      other = await layout.addImage('other', sampleImage(AMD64, 'other'));
      index = await layout.addIndex('multi', [sampleImage(AMD64, 'multi'), sampleImage(ARM64, 'multi')]);
      skopeo = new Skopeo(join(work, 'observer'));
      // The access log shows each request's method, path and status: how a blob mount is observed.
      server = await startServer({ config: { log: { level: 'info', accesslog: { disabled: false } } } });
    });

    after(async () => {
      await server?.stop();
      await server?.cleanup();
      if (work) await rm(work, { recursive: true, force: true });
    });

    /** A client with a working directory (and store) of its own, removed afterwards. */
    async function withClient(test: (client: RegistryClient) => Promise<void>): Promise<void> {
      const dir = join(work, `c${++clients}`);
      try {
        await test(create(dir));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }

    const inspector = (client: RegistryClient): Pick<Required<RegistryClient>, 'inspect'> =>
      // podman has no remote inspect that reports a manifest's digest: skopeo reads what podman pushed.
      client.inspect ? { inspect: (ref) => client.inspect!(ref) } : skopeo;

    for (const format of FORMATS) {
      it(`when a single-platform image is pushed from an OCI layout as ${format}, then inspect and pull return its config and every layer, digest by digest`, () =>
        withClient(async (client) => {
          const ref = `${server.host}/single-${format}:v1`;
          const pushed = await client.push(layout, 'single', ref, { format });
          if (client.keepsBytes && format === 'oci') assert.equal(pushed, single.manifest.digest, 'the manifest arrives byte for byte');

          const inspected = await inspector(client).inspect(ref);
          assert.equal(inspected.digest, pushed, 'the tag names the manifest the client wrote');
          assertImageManifest(inspected, single, format, client.keepsBytes);

          const layers = layerDigests(inspected);
          const pulled = await client.pull(ref);
          assertPulledImage(pulled, single, { format, manifestDigest: pushed, layerDigests: layers });
          const byDigest = await client.pull(`${server.host}/single-${format}@${pushed}`);
          assertPulledImage(byDigest, single, { format, manifestDigest: pushed, layerDigests: layers });
        }));

      it(`when a linux/amd64 + linux/arm64 index is pushed with all its children as ${format}, then the index lists both and each platform pulls its own config and layers`, () =>
        withClient(async (client) => {
          const ref = `${server.host}/multi-${format}:v1`;
          const pushed = await client.pushIndex(layout, 'multi', ref, { format });
          if (client.keepsBytes && format === 'oci') assert.equal(pushed, index.index.digest, 'the index arrives byte for byte');

          const inspected = await inspector(client).inspect(ref);
          assert.equal(inspected.digest, pushed);
          assert.equal(inspected.mediaType, MEDIA_TYPES[format].index);
          const children = inspected.manifest.manifests ?? [];
          assert.deepEqual(children.map((child) => child.platform), index.images.map((image) => image.platform));
          if (format === 'oci') {
            // Unconverted children are copied as they are, by both clients.
            assert.deepEqual(children.map((child) => child.digest), index.images.map((image) => image.manifest.digest));
          }

          for (const [position, image] of index.images.entries()) {
            const child = children[position]!;
            const childManifest = await inspector(client).inspect(`${server.host}/multi-${format}@${child.digest}`);
            assert.equal(childManifest.digest, child.digest);
            assertImageManifest(childManifest, image, format, client.keepsBytes);

            const pulled = await client.pull(ref, image.platform);
            assertPulledImage(pulled, image, { format, manifestDigest: child.digest, layerDigests: layerDigests(childManifest) });
            if (pulled.indexDigest !== undefined) assert.equal(pulled.indexDigest, pushed);
          }
        }));
    }

    it('when an image is copied to another repository, then its layers are mounted from the first and it pulls from the second, digest by digest', () =>
      withClient(async (client) => {
        const source = `${server.host}/copy-from:v1`;
        const target = `${server.host}/copy-to:v1`;
        const pushed = await client.push(layout, 'single', source, { format: 'oci' });
        const copied = await client.copy(source, target);
        if (client.keepsBytes) assert.equal(copied, pushed, 'the manifest is copied byte for byte');

        // The access log records paths without queries; neither client uploads with a single
        // `POST …/uploads/?digest=`, so a POST answered 201 Created is a cross-repository mount.
        assert.equal(mountsInto(server, 'copy-to'), single.layers.length, 'every layer was mounted, none uploaded again');

        // The copy names the very blobs the source names.
        const copiedManifest = await inspector(client).inspect(target);
        assert.equal(copiedManifest.digest, copied);
        const layers = layerDigests(await inspector(client).inspect(source));
        assert.deepEqual(layerDigests(copiedManifest), layers);
        assertImageManifest(copiedManifest, single, 'oci', client.keepsBytes);

        const pulled = await client.pull(target);
        assertPulledImage(pulled, single, { format: 'oci', manifestDigest: copied, layerDigests: layers });
      }));

    it('when an index is copied to another repository, then the index and every child are there, digest by digest', () =>
      withClient(async (client) => {
        const source = `${server.host}/copy-index-from:v1`;
        const target = `${server.host}/copy-index-to:v1`;
        const pushed = await client.pushIndex(layout, 'multi', source, { format: 'oci' });
        const copied = await client.copy(source, target, { all: true });
        if (client.keepsBytes) assert.equal(copied, pushed, 'the index is copied byte for byte');

        const inspected = await inspector(client).inspect(target);
        assert.equal(inspected.digest, copied);
        assert.equal(inspected.mediaType, OCI_INDEX);
        assert.deepEqual((inspected.manifest.manifests ?? []).map((child) => child.digest), index.images.map((image) => image.manifest.digest));
        const distinctLayers = new Set(index.images.flatMap((image) => image.layers.map((layer) => layer.digest)));
        assert.equal(mountsInto(server, 'copy-index-to'), distinctLayers.size, 'every distinct layer was mounted once');

        for (const image of index.images) {
          const pulled = await client.pull(target, image.platform);
          assertPulledImage(pulled, image, { format: 'oci', manifestDigest: image.manifest.digest, layerDigests: image.layers.map((layer) => layer.digest) });
        }
      }));

    it('when three tags are pushed to a repository, then list-tags returns exactly those tags', () =>
      withClient(async (client) => {
        for (const tag of ['v1', 'v2', 'latest']) await client.push(layout, 'single', `${server.host}/tagged:${tag}`, { format: 'oci' });
        assert.deepEqual((await client.listTags(`${server.host}/tagged`)).sort(), ['latest', 'v1', 'v2']);
      }));

    it('when list-tags asks for a repository never pushed, then the client reports it unknown', () =>
      withClient(async (client) => {
        await assert.rejects(client.listTags(`${server.host}/never-pushed`), /404|name unknown|NAME_UNKNOWN/i);
      }));

    it('when a manifest is deleted by digest, then inspect and pull by that digest fail, its tag is gone, and other manifests stay', () =>
      withClient(async (client) => {
        const repository = `${server.host}/deleted`;
        const deleted = await client.push(layout, 'single', `${repository}:v1`, { format: 'oci' });
        const kept = await client.push(layout, 'other', `${repository}:other`, { format: 'oci' });

        // podman cannot delete from a registry: skopeo deletes, podman then looks.
        await (client.delete ? client.delete(`${repository}@${deleted}`) : skopeo.delete(`${repository}@${deleted}`));

        await assert.rejects(inspector(client).inspect(`${repository}@${deleted}`), /manifest unknown/i);
        await assert.rejects(client.pull(`${repository}@${deleted}`), /manifest unknown/i);
        assert.deepEqual(await client.listTags(repository), ['other']);
        const pulled = await client.pull(`${repository}:other`);
        const layers = layerDigests(await inspector(client).inspect(`${repository}:other`));
        assertPulledImage(pulled, other, { format: 'oci', manifestDigest: kept, layerDigests: layers });
      }));
  });
}

/** The manifest the registry serves describes the image the test built, in the pushed format. */
function assertImageManifest(inspected: InspectedManifest, image: BuiltImage, format: ManifestFormat, layersAsBuilt: boolean): void {
  const types = MEDIA_TYPES[format];
  assert.equal(inspected.mediaType, types.manifest);
  assert.deepEqual(inspected.manifest.config, { mediaType: types.config, digest: image.config.digest, size: image.config.size });
  const layers = inspected.manifest.layers ?? [];
  assert.deepEqual(layers.map((layer) => layer.mediaType), image.layers.map(() => types.layer));
  if (layersAsBuilt) {
    assert.deepEqual(
      layers.map(({ digest, size }) => ({ digest, size })),
      image.layers.map(({ digest, size }) => ({ digest, size })),
    );
  }
}

/**
 * What the client pulled is what was pushed: the manifest, the config, every layer blob (as the
 * pushed manifest names them — the built ones, for a client that keeps bytes; checked by
 * `assertImageManifest`) and every layer's uncompressed content (always the built one).
 */
export function assertPulledImage(pulled: PulledImage, image: BuiltImage, expected: { format: ManifestFormat; manifestDigest: string; layerDigests: string[] }): void {
  assert.equal(pulled.manifestDigest, expected.manifestDigest, 'manifest digest');
  assert.equal(pulled.mediaType, MEDIA_TYPES[expected.format].manifest, 'manifest media type');
  assert.equal(pulled.configDigest, image.config.digest, 'config digest');
  assert.deepEqual(pulled.layerDigests, expected.layerDigests, 'layer blob digests');
  assert.deepEqual(pulled.diffIds, image.layers.map((layer) => layer.diffId), 'uncompressed layer digests (diff_ids)');
}

export function layerDigests(inspected: InspectedManifest): string[] {
  return (inspected.manifest.layers ?? []).map((layer) => layer.digest);
}

/** How many blobs the access log shows mounted into `repository` (a POST to its uploads answered 201). */
function mountsInto(server: RunningServer, repository: string): number {
  let mounts = 0;
  for (const line of server.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; method?: string; path?: string; status?: number };
      if (entry.msg === 'request' && entry.method === 'POST' && entry.path === `/v2/${repository}/blobs/uploads/` && entry.status === 201) mounts++;
    } catch {
      // not a log line
    }
  }
  return mounts;
}
