import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startWithClient, type TestRegistry } from '../support/in-process.js';
import { OciClient, errorCode, rawRequest } from '../support/oci-client.js';

describe('base endpoint and routing', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => ({ registry, client } = await startWithClient({ http: { headers: { 'X-Content-Type-Options': ['nosniff'] } } })));
  after(() => registry.destroy());

  it('when /v2/ is requested, then it answers 200 with the API version header', async () => {
    for (const path of ['/v2/', '/v2']) {
      const response = await client.request(path);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
      assert.deepEqual(await response.json(), {});
    }
  });

  it('when http.headers is configured, then every response carries those headers', async () => {
    const ok = await client.request('/v2/');
    const failed = await client.request('/v2/nope/manifests/latest');
    assert.equal(ok.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(failed.headers.get('x-content-type-options'), 'nosniff');
  });

  it('when a path is outside the API, then it is 404 NOT_FOUND with the error envelope', async () => {
    for (const path of ['/', '/v1/', '/v2/a/unknown/thing', '/v2/a/blobs/uploads/x/y']) {
      const response = await client.request(path);
      assert.equal(response.status, 404, path);
      assert.ok(['NOT_FOUND', 'BLOB_UPLOAD_UNKNOWN'].includes(await errorCode(response)), path);
    }
  });

  it('when a method is not allowed on a route, then it is 405 UNSUPPORTED with Allow', async () => {
    const response = await client.request('/v2/_catalog', { method: 'DELETE' });
    assert.equal(response.status, 405);
    assert.equal(await errorCode(response), 'UNSUPPORTED');
    assert.equal(response.headers.get('allow'), 'GET');
  });

  it('when a repository name breaks the grammar, then every route answers 400 NAME_INVALID', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const names = ['UPPER', 'a//b', '-lead', 'trail-', 'a/../b', '..', 'a/.b', `${'a'.repeat(256)}`, 'a%2F..%2Fb', 'a%zz'];
    for (const name of names) {
      for (const path of [`/v2/${name}/tags/list`, `/v2/${name}/manifests/latest`, `/v2/${name}/blobs/${digest}`, `/v2/${name}/blobs/uploads/`]) {
        const response = await rawRequest(registry.url, path.endsWith('uploads/') ? 'POST' : 'GET', path);
        assert.equal(response.status, 400, `${path} → ${response.status}`);
        assert.equal(JSON.parse(response.body).errors[0].code, 'NAME_INVALID', path);
      }
    }
  });

  it('when multi-segment names with separators are used, then they are accepted', async () => {
    for (const name of ['team/app/api', 'a.b_c__d---e/f', 'x0/y1/z2/w3']) {
      await client.pushImage(name, 'v1');
      const response = await client.request(`/v2/${name}/tags/list`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { name, tags: ['v1'] });
    }
  });

  it('when a digest is malformed or uses an unknown algorithm, then it is 400 DIGEST_INVALID', async () => {
    const bad = ['sha256:abc', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, 'nocolon', `sha512:${'a'.repeat(64)}`, `sha256:${'g'.repeat(64)}`];
    for (const digest of bad) {
      const response = await client.request(`/v2/repo/blobs/${digest}`);
      assert.equal(response.status, 400, digest);
      assert.equal(await errorCode(response), 'DIGEST_INVALID', digest);
    }
  });

  it('when a manifest reference is neither a tag nor a digest, then GET and HEAD are 404 MANIFEST_UNKNOWN, PUT and DELETE 400 with the precise code', async () => {
    const cases: [string, string][] = [
      ['.INVALID_MANIFEST_NAME', 'TAG_INVALID'],
      ['-dash', 'TAG_INVALID'],
      ['t'.repeat(129), 'TAG_INVALID'],
      ['a%20b', 'TAG_INVALID'],
      ['sha256:abc', 'DIGEST_INVALID'],
    ];
    for (const [reference, writeCode] of cases) {
      const path = `/v2/repo/manifests/${reference}`;
      const get = await client.request(path);
      assert.equal(get.status, 404, reference);
      assert.equal(await errorCode(get), 'MANIFEST_UNKNOWN', reference);
      assert.equal((await client.request(path, { method: 'HEAD' })).status, 404, reference);
      const put = await client.request(path, { method: 'PUT', body: '{}', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(put.status, 400, reference);
      assert.equal(await errorCode(put), writeCode, reference);
      const deleted = await client.request(path, { method: 'DELETE' });
      assert.equal(deleted.status, 400, reference);
      assert.equal(await errorCode(deleted), writeCode, reference);
    }
  });

  it('when the health endpoint is asked, then it reports storage and database checks', async () => {
    const response = await client.request('/health');
    assert.equal(response.status, 200);
    const body = (await response.json()) as { healthy: boolean; checks: Record<string, unknown> };
    assert.equal(body.healthy, true);
    assert.deepEqual(Object.keys(body.checks).sort(), ['database', 'storagedriver']);
  });
});
