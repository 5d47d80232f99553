import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RegistryError } from './errors.js';
import { parseManifest } from './manifest.js';
import { MediaType } from './media-types.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const image = {
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 10 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('1'), size: 5 },
    { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: D('2'), size: 5, urls: ['https://example.invalid/x'] },
  ],
};
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('manifest parsing', () => {
  it('when an image manifest is parsed, then config and distributable layers are the blob references', () => {
    const parsed = parseManifest(bytes(image), MediaType.OciManifest);
    assert.equal(parsed.kind, 'image');
    assert.deepEqual(parsed.blobs.map((d) => d.digest), [D('c'), D('1')]);
    assert.equal(parsed.artifactType, 'application/vnd.oci.image.config.v1+json');
  });

  it('when an index is parsed, then its entries are manifest references', () => {
    const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ mediaType: MediaType.OciManifest, digest: D('a'), size: 1 }] };
    const parsed = parseManifest(bytes(index), MediaType.OciIndex);
    assert.equal(parsed.kind, 'index');
    assert.deepEqual(parsed.manifests.map((d) => d.digest), [D('a')]);
    assert.deepEqual(parsed.blobs, []);
  });

  it('when Content-Type is missing, then the body mediaType decides, or the shape does', () => {
    assert.equal(parseManifest(bytes(image), undefined).mediaType, MediaType.OciManifest);
    const { mediaType: _, ...bare } = image;
    assert.equal(parseManifest(bytes(bare), undefined).mediaType, MediaType.OciManifest);
  });

  it('when an artifact has artifactType and subject, then both are reported', () => {
    const artifact = { ...image, artifactType: 'application/x.test', subject: { mediaType: MediaType.OciManifest, digest: D('e'), size: 3 } };
    const parsed = parseManifest(bytes(artifact), MediaType.OciManifest);
    assert.equal(parsed.artifactType, 'application/x.test');
    assert.equal(parsed.subject?.digest, D('e'));
  });

  it('when the manifest is malformed, then MANIFEST_INVALID says what is wrong', () => {
    const cases: [unknown, string | undefined, RegExp][] = [
      ['not json', MediaType.OciManifest, /JSON/],
      [{ ...image, schemaVersion: 1 }, MediaType.OciManifest, /schemaVersion/],
      [image, MediaType.DockerManifest, /does not match/],
      [{ ...image, config: { ...image.config, digest: 'sha256:x' } }, MediaType.OciManifest, /config\.digest/],
      [{ ...image, layers: [{ digest: D('1'), size: 1 }] }, MediaType.OciManifest, /layers\[0\]\.mediaType/],
      [{ ...image, subject: 'x' }, MediaType.OciManifest, /subject/],
      [{ ...image, mediaType: 'application/json' }, 'application/json', /unsupported manifest media type/],
      [{ schemaVersion: 2 }, undefined, /unsupported/],
      [{ ...image, mediaType: MediaType.DockerSchema1Signed }, MediaType.DockerSchema1Signed, /schema 1/],
    ];
    for (const [body, contentType, message] of cases) {
      const raw = typeof body === 'string' ? Buffer.from(body) : bytes(body);
      assert.throws(() => parseManifest(raw, contentType), (error: RegistryError) => error.code === 'MANIFEST_INVALID' && message.test(error.message), String(message));
    }
  });
});
