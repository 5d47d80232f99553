import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startWithClient, type TestRegistry } from '../support/in-process.js';
import { OciClient, artifactManifest, errorCode, rawRequest, sha256 } from '../support/oci-client.js';
import { createHash } from 'node:crypto';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

describe('manifests', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => ({ registry, client } = await startWithClient()));
  after(() => registry.destroy());

  it('when an OCI manifest is pushed by tag, then GET by tag and by digest return the exact bytes and headers', async () => {
    const { digest, body } = await client.pushImage('app', 'v1');
    for (const reference of ['v1', digest]) {
      const response = await client.request(`/v2/app/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(response.headers.get('docker-content-digest'), digest);
      assert.equal(response.headers.get('etag'), `"${digest}"`);
      assert.equal(response.headers.get('content-length'), String(body.length));
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(body), 'byte-for-byte');
      const head = await client.request(`/v2/app/manifests/${reference}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('docker-content-digest'), digest);
      assert.equal(head.headers.get('content-length'), String(body.length));
    }
    const cached = await client.request('/v2/app/manifests/v1', { headers: { 'If-None-Match': `"${digest}"` } });
    assert.equal(cached.status, 304);
  });

  it('when a manifest is PUT, then 201 carries Location and Docker-Content-Digest', async () => {
    const config = await client.pushBlob('put', '{}');
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [] });
    const response = await client.putManifest('put', 'latest', body, OCI_MANIFEST);
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('docker-content-digest'), sha256(body));
    assert.equal(response.headers.get('location'), `/v2/put/manifests/${sha256(body)}`);
  });

  it('when a Docker schema2 manifest and manifest list are pushed, then they are served with their media types', async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const configDigest = await client.pushBlob('docker', config);
    const layer = await client.pushBlob('docker', 'docker layer');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: configDigest },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 12, digest: layer }],
    });
    assert.equal((await client.putManifest('docker', 'amd64', manifest, DOCKER_MANIFEST)).status, 201);
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [{ mediaType: DOCKER_MANIFEST, size: manifest.length, digest: sha256(manifest), platform: { architecture: 'amd64', os: 'linux' } }],
    });
    assert.equal((await client.putManifest('docker', 'multi', list, DOCKER_LIST)).status, 201);
    const fetched = await client.request('/v2/docker/manifests/multi');
    assert.equal(fetched.headers.get('content-type'), DOCKER_LIST);
    assert.equal(await fetched.text(), list);
    assert.equal((await client.request('/v2/docker/manifests/amd64')).headers.get('content-type'), DOCKER_MANIFEST);
  });

  it('when an OCI index references a manifest that is not in the repository, then MANIFEST_BLOB_UNKNOWN', async () => {
    const { digest, body } = await client.pushImage('index', 'child');
    const good = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest, size: body.length }] });
    assert.equal((await client.putManifest('index', 'all', good, OCI_INDEX)).status, 201);
    const missing = sha256('no such manifest');
    const bad = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: missing, size: 10 }] });
    const response = await client.putManifest('index', 'broken', bad, OCI_INDEX);
    assert.equal(response.status, 404);
    const error = (await response.json()) as { errors: { code: string; detail: { manifests: string[] } }[] };
    assert.equal(error.errors[0]!.code, 'MANIFEST_BLOB_UNKNOWN');
    assert.deepEqual(error.errors[0]!.detail.manifests, [missing]);
    assert.equal((await client.request('/v2/index/manifests/broken')).status, 404);
  });

  it('when a manifest references a blob missing from the repository, then MANIFEST_BLOB_UNKNOWN and nothing is tagged', async () => {
    const elsewhere = await client.pushBlob('other-repo', 'layer elsewhere');
    const config = await client.pushBlob('strict', '{}');
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: elsewhere, size: 15 }],
    });
    const response = await client.putManifest('strict', 'v1', body, OCI_MANIFEST);
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'MANIFEST_BLOB_UNKNOWN');
    assert.equal((await client.request('/v2/strict/manifests/v1')).status, 404);
  });

  it('when the body is not a valid manifest, then MANIFEST_INVALID with the reason', async () => {
    const config = await client.pushBlob('invalid', '{}');
    const valid = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [] };
    const cases: [string, string | undefined][] = [
      ['{not json', OCI_MANIFEST],
      ['[]', OCI_MANIFEST],
      [JSON.stringify({ ...valid, schemaVersion: 1 }), OCI_MANIFEST],
      [JSON.stringify(valid), DOCKER_MANIFEST],
      [JSON.stringify({ ...valid, layers: 'nope' }), OCI_MANIFEST],
      [JSON.stringify({ ...valid, config: { ...valid.config, digest: 'sha256:short' } }), OCI_MANIFEST],
      [JSON.stringify({ ...valid, config: { ...valid.config, size: -1 } }), OCI_MANIFEST],
      [JSON.stringify({ ...valid, annotations: { a: 1 } }), OCI_MANIFEST],
      [JSON.stringify({ ...valid, mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
      [JSON.stringify({ ...valid, mediaType: undefined }), 'text/plain'],
    ];
    for (const [body, contentType] of cases) {
      const response = await client.putManifest('invalid', 'v1', body, contentType ?? '');
      assert.equal(response.status, 400, body);
      const error = (await response.json()) as { errors: { code: string; message: string }[] };
      assert.equal(error.errors[0]!.code, 'MANIFEST_INVALID', body);
      assert.ok(error.errors[0]!.message.length > 10);
    }
    assert.equal((await client.request('/v2/invalid/manifests/v1')).status, 404);
  });

  it('when a manifest is larger than 4 MiB, then 413 MANIFEST_TOO_LARGE', async () => {
    const config = await client.pushBlob('big', '{}');
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [],
      annotations: { padding: 'x'.repeat(4 * 1024 * 1024) },
    });
    const response = await client.putManifest('big', 'v1', body, OCI_MANIFEST);
    assert.equal(response.status, 413);
    assert.equal(await errorCode(response), 'MANIFEST_TOO_LARGE');
  });

  it('when a manifest is PUT by a digest it does not have, then DIGEST_INVALID; by its own digest, then 201', async () => {
    const { body } = await client.pushImage('bydigest', 'seed');
    const changed = Buffer.from(`${body.toString()}\n`);
    const wrong = await client.putManifest('bydigest', sha256(body), changed, OCI_MANIFEST);
    assert.equal(wrong.status, 400);
    assert.equal(await errorCode(wrong), 'DIGEST_INVALID');
    const right = await client.putManifest('bydigest', sha256(changed), changed, OCI_MANIFEST);
    assert.equal(right.status, 201);
    const sha512 = `sha512:${createHash('sha512').update(changed).digest('hex')}`;
    const bySha512 = await client.putManifest('bydigest', sha512, changed, OCI_MANIFEST);
    assert.equal(bySha512.status, 201);
    assert.equal(bySha512.headers.get('docker-content-digest'), sha512);
    assert.equal(await (await client.request(`/v2/bydigest/manifests/${sha512}`)).text(), changed.toString());
  });

  it('when a tag is pushed again, then it moves to the new manifest', async () => {
    const first = await client.pushImage('moving', 'latest', ['one']);
    const second = await client.pushImage('moving', 'latest', ['two']);
    assert.notEqual(first.digest, second.digest);
    assert.equal((await client.request('/v2/moving/manifests/latest')).headers.get('docker-content-digest'), second.digest);
    assert.equal((await client.request(`/v2/moving/manifests/${first.digest}`)).status, 200);
  });

  it('when a tag is deleted, then only the tag goes; when a digest is deleted, then its tags go too', async () => {
    const { digest } = await client.pushImage('deletes', 'a');
    await client.putManifest('deletes', 'b', (await (await client.request(`/v2/deletes/manifests/${digest}`)).arrayBuffer()) as unknown as Buffer, OCI_MANIFEST);
    assert.equal((await client.request('/v2/deletes/manifests/a', { method: 'DELETE' })).status, 202);
    assert.equal((await client.request('/v2/deletes/manifests/a')).status, 404);
    assert.equal((await client.request(`/v2/deletes/manifests/${digest}`)).status, 200);
    assert.equal((await client.request(`/v2/deletes/manifests/${digest}`, { method: 'DELETE' })).status, 202);
    for (const reference of ['b', digest]) {
      const response = await client.request(`/v2/deletes/manifests/${reference}`);
      assert.equal(response.status, 404);
      assert.equal(await errorCode(response), 'MANIFEST_UNKNOWN');
    }
    const again = await client.request(`/v2/deletes/manifests/${digest}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.equal(await errorCode(again), 'MANIFEST_UNKNOWN');
  });

  it('when an OCI manifest or index is asked for by tag accepting only Docker types, then 404 MANIFEST_UNKNOWN; by digest, or with no or wildcard Accept, it is served', async () => {
    const image = await client.pushImage('negotiate', 'image');
    const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: image.digest, size: image.body.length }] });
    assert.equal((await client.putManifest('negotiate', 'index', index, OCI_INDEX)).status, 201);
    const dockerOnly = { Accept: `${DOCKER_MANIFEST}, ${DOCKER_LIST}` };
    for (const [tag, digest, message] of [
      ['image', image.digest, 'OCI manifest found, but accept header does not support OCI manifests'],
      ['index', sha256(index), 'OCI index found, but accept header does not support OCI indexes'],
    ] as const) {
      const refused = await client.request(`/v2/negotiate/manifests/${tag}`, { headers: dockerOnly });
      assert.equal(refused.status, 404, tag);
      const body = (await refused.json()) as { errors: { code: string; message: string }[] };
      assert.deepEqual([body.errors[0]!.code, body.errors[0]!.message], ['MANIFEST_UNKNOWN', message]);
      assert.equal((await client.request(`/v2/negotiate/manifests/${tag}`, { method: 'HEAD', headers: dockerOnly })).status, 404, tag);
      assert.equal((await client.request(`/v2/negotiate/manifests/${digest}`, { headers: dockerOnly })).status, 200, `${tag} by digest`);
      for (const accept of ['*/*', 'application/*', `${DOCKER_MANIFEST}, ${OCI_MANIFEST};q=0.5, ${OCI_INDEX}`]) {
        assert.equal((await client.request(`/v2/negotiate/manifests/${tag}`, { headers: { Accept: accept } })).status, 200, `${tag} with ${accept}`);
      }
      const url = new URL(registry.url);
      const bare = await rawRequest(`http://${url.host}`, 'GET', `/v2/negotiate/manifests/${tag}`);
      assert.equal(bare.status, 200, `${tag} with no Accept header`);
    }
  });

  it('when a Docker manifest list is asked for by a client accepting only single manifests, then 404 MANIFEST_UNKNOWN, not one of its children', async () => {
    const config = await client.pushBlob('single', '{"architecture":"amd64","os":"linux"}');
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 37, digest: config }, layers: [] });
    assert.equal((await client.putManifest('single', 'amd64', manifest, DOCKER_MANIFEST)).status, 201);
    const list = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [{ mediaType: DOCKER_MANIFEST, size: manifest.length, digest: sha256(manifest), platform: { architecture: 'amd64', os: 'linux' } }] });
    assert.equal((await client.putManifest('single', 'multi', list, DOCKER_LIST)).status, 201);
    const response = await client.request('/v2/single/manifests/multi', { headers: { Accept: DOCKER_MANIFEST } });
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'MANIFEST_UNKNOWN');
    assert.equal((await client.request('/v2/single/manifests/amd64', { headers: { Accept: DOCKER_MANIFEST } })).status, 200);
  });

  it('when a PUT body declares a mediaType other than its Content-Type, then 400 MANIFEST_INVALID and nothing is stored', async () => {
    const image = await client.pushImage('mismatch', 'ok');
    const response = await client.putManifest('mismatch', 'wrong', image.body, DOCKER_MANIFEST);
    assert.equal(response.status, 400);
    assert.equal(await errorCode(response), 'MANIFEST_INVALID');
    assert.equal((await client.request('/v2/mismatch/manifests/wrong')).status, 404);
  });

  it('when a manifest is unknown, then GET and HEAD answer 404 MANIFEST_UNKNOWN', async () => {
    const get = await client.request('/v2/app/manifests/missing');
    assert.equal(get.status, 404);
    assert.equal(await errorCode(get), 'MANIFEST_UNKNOWN');
    const head = await client.request(`/v2/app/manifests/${sha256('x')}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  });
});

describe('referrers', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => ({ registry, client } = await startWithClient()));
  after(() => registry.destroy());

  it('when artifacts with a subject are pushed, then OCI-Subject is returned and referrers lists them, filterable by artifactType', async () => {
    const subject = await client.pushImage('art', 'v1');
    const empty = await client.pushBlob('art', '{}');
    const artifacts: Record<string, string> = {};
    for (const type of ['application/vnd.example.sbom', 'application/vnd.example.signature']) {
      const body = artifactManifest(subject, type, empty, { 'org.example.kind': type });
      const response = await client.putManifest('art', sha256(body), body, OCI_MANIFEST);
      assert.equal(response.status, 201);
      assert.equal(response.headers.get('oci-subject'), subject.digest);
      artifacts[type] = sha256(body);
    }

    const all = await client.request(`/v2/art/referrers/${subject.digest}`);
    assert.equal(all.status, 200);
    assert.equal(all.headers.get('content-type'), OCI_INDEX);
    assert.equal(all.headers.get('oci-filters-applied'), null);
    const index = (await all.json()) as { schemaVersion: number; mediaType: string; manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[] };
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, OCI_INDEX);
    assert.deepEqual(index.manifests.map((entry) => entry.digest).sort(), Object.values(artifacts).sort());
    for (const entry of index.manifests) assert.equal(entry.annotations['org.example.kind'], entry.artifactType);

    const filtered = await client.request(`/v2/art/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    const filteredIndex = (await filtered.json()) as { manifests: { digest: string }[] };
    assert.deepEqual(filteredIndex.manifests.map((entry) => entry.digest), [artifacts['application/vnd.example.sbom']]);
  });

  it('when an image manifest has no artifactType, then referrers reports its config media type', async () => {
    const subject = await client.pushImage('art2', 'v1');
    const config = Buffer.from('{"kind":"note"}');
    const configDigest = await client.pushBlob('art2', config);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.example.note.config', digest: configDigest, size: config.length },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.body.length },
    });
    assert.equal((await client.putManifest('art2', 'note', body, OCI_MANIFEST)).status, 201);
    const index = (await (await client.request(`/v2/art2/referrers/${subject.digest}`)).json()) as { manifests: { artifactType: string }[] };
    assert.equal(index.manifests[0]!.artifactType, 'application/vnd.example.note.config');
  });

  it('when a subject has no referrers or does not exist, then an empty index; a bad digest is DIGEST_INVALID', async () => {
    const response = await client.request(`/v2/art/referrers/${sha256('nothing refers to me')}`);
    assert.equal(response.status, 200);
    assert.deepEqual(((await response.json()) as { manifests: unknown[] }).manifests, []);
    const bad = await client.request('/v2/art/referrers/sha256:nope');
    assert.equal(bad.status, 400);
    assert.equal(await errorCode(bad), 'DIGEST_INVALID');
  });
});
