import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RegistryError } from './errors.js';
import { parseRoute, referenceToRead, referenceToWrite, type Route } from './routes.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const UUID = '3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8';

describe('the /v2 path grammar', () => {
  it('when a path names an endpoint, then it parses to the typed route', () => {
    assert.deepEqual(parseRoute('/v2/'), { kind: 'base' });
    assert.deepEqual(parseRoute('/v2/_catalog'), { kind: 'catalog' });
    assert.deepEqual(parseRoute('/v2/a/b/tags/list'), { kind: 'tags', name: 'a/b' });
    assert.deepEqual(parseRoute('/v2/a/manifests/latest'), { kind: 'manifest', name: 'a', reference: { tag: 'latest' } });
    assert.deepEqual(parseRoute(`/v2/a/manifests/${DIGEST}`), { kind: 'manifest', name: 'a', reference: { digest: DIGEST } });
    assert.deepEqual(parseRoute(`/v2/a/blobs/${DIGEST}`), { kind: 'blob', name: 'a', digest: DIGEST });
    assert.deepEqual(parseRoute('/v2/a/blobs/uploads/'), { kind: 'upload-start', name: 'a' });
    assert.deepEqual(parseRoute('/v2/a/blobs/uploads'), { kind: 'upload-start', name: 'a' });
    assert.deepEqual(parseRoute(`/v2/a/blobs/uploads/${UUID}`), { kind: 'upload', name: 'a', uploadId: UUID });
    assert.deepEqual(parseRoute(`/v2/a/referrers/${DIGEST}`), { kind: 'referrers', name: 'a', digest: DIGEST });
    assert.deepEqual(parseRoute(`/v2/a/manifests/sha256%3A${'a'.repeat(64)}`), { kind: 'manifest', name: 'a', reference: { digest: DIGEST } });
  });

  it('when a repository name contains endpoint words, then the tail decides', () => {
    assert.deepEqual(parseRoute('/v2/blobs/manifests/tags/list'), { kind: 'tags', name: 'blobs/manifests' });
    assert.deepEqual(parseRoute(`/v2/x/blobs/uploads/blobs/${DIGEST}`), { kind: 'blob', name: 'x/blobs/uploads', digest: DIGEST });
    assert.deepEqual(parseRoute('/v2/manifests/manifests/manifests'), { kind: 'manifest', name: 'manifests', reference: { tag: 'manifests' } });
  });

  it('when a path is outside /v2, then there is no route; unknown /v2 paths are NOT_FOUND', () => {
    assert.equal(parseRoute('/'), undefined);
    assert.equal(parseRoute('/v2x'), undefined);
    for (const path of ['/v2/a', '/v2/a/tags', '/v2/a/manifests/', `/v2/a/blobs/uploads/${UUID}/x`]) {
      assert.throws(() => parseRoute(path), (error: RegistryError) => error.code === 'NOT_FOUND', path);
    }
  });

  it('when parts are malformed, then the specific error code comes back', () => {
    const cases: [string, string][] = [
      ['/v2/A/tags/list', 'NAME_INVALID'],
      ['/v2/a/../b/tags/list', 'NAME_INVALID'],
      ['/v2/a/blobs/sha256:1', 'DIGEST_INVALID'],
      ['/v2/a/blobs/uploads/../../etc', 'NOT_FOUND'],
      ['/v2/../blobs/uploads/x', 'NAME_INVALID'],
      ['/v2/a/blobs/uploads/not-a-uuid', 'BLOB_UPLOAD_UNKNOWN'],
      ['/v2/a%ZZ/tags/list', 'NAME_INVALID'],
    ];
    for (const [path, code] of cases) assert.throws(() => parseRoute(path), (error: RegistryError) => error.code === code, path);
  });

  it('when a manifest reference is neither a tag nor a digest, then reads find nothing and writes are refused precisely', () => {
    const cases: [string, string][] = [
      ['.INVALID_MANIFEST_NAME', 'TAG_INVALID'],
      ['-tag', 'TAG_INVALID'],
      ['sha256:abc', 'DIGEST_INVALID'],
    ];
    for (const [reference, writeCode] of cases) {
      const route = parseRoute(`/v2/a/manifests/${reference}`) as Extract<Route, { kind: 'manifest' }>;
      assert.equal(route.kind, 'manifest', reference);
      assert.throws(() => referenceToRead(route.name, route.reference), (error: RegistryError) => error.code === 'MANIFEST_UNKNOWN', reference);
      assert.throws(() => referenceToWrite(route.reference), (error: RegistryError) => error.code === writeCode, reference);
    }
    const valid = parseRoute('/v2/a/manifests/v1') as Extract<Route, { kind: 'manifest' }>;
    assert.deepEqual(referenceToRead(valid.name, valid.reference), { tag: 'v1' });
    assert.deepEqual(referenceToWrite(valid.reference), { tag: 'v1' });
  });
});
