import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDigest } from '../oci/digest.js';
import type { RepositoryName, Tag } from '../oci/names.js';
import { registry2Layout } from './registry2-layout.js';

const DIGEST = parseDigest(`sha256:${'ab'.repeat(32)}`);
const NAME = 'team/app' as RepositoryName;
const PREFIX = 'docker/registry/v2/repositories/';

describe('registry:2 layout', () => {
  it('when keys are built, then they are the paths registry:2 writes', () => {
    assert.equal(registry2Layout.blobData(DIGEST), `docker/registry/v2/blobs/sha256/ab/${'ab'.repeat(32)}/data`);
    assert.equal(registry2Layout.tagLink(NAME, '1.0' as Tag), `${PREFIX}team/app/_manifests/tags/1.0/current/link`);
    assert.equal(registry2Layout.revisionLink(NAME, DIGEST), `${PREFIX}team/app/_manifests/revisions/sha256/${'ab'.repeat(32)}/link`);
    assert.equal(registry2Layout.layerLink(NAME, DIGEST), `${PREFIX}team/app/_layers/sha256/${'ab'.repeat(32)}/link`);
  });

  it('when a listed key is a layer, revision or current tag link, then its parts are parsed back', () => {
    assert.deepEqual(registry2Layout.entry(registry2Layout.layerLink(NAME, DIGEST)), { kind: 'layer', repository: NAME, digest: DIGEST });
    assert.deepEqual(registry2Layout.entry(registry2Layout.revisionLink(NAME, DIGEST)), { kind: 'revision', repository: NAME, digest: DIGEST });
    assert.deepEqual(registry2Layout.entry(registry2Layout.tagLink(NAME, 'v1' as Tag)), { kind: 'tag', repository: NAME, tag: 'v1' });
  });

  it('when a listed key is tag history, an upload or not a link, then it is not an entry', () => {
    assert.equal(registry2Layout.entry(`${PREFIX}team/app/_manifests/tags/v1/index/sha256/${'ab'.repeat(32)}/link`), undefined);
    assert.equal(registry2Layout.entry(`${PREFIX}team/app/_uploads/0b5e6c1a-1b7d-4c1e-9d0e-2c3f4a5b6c7d/startedat`), undefined);
    assert.equal(registry2Layout.entry(`${PREFIX}team/app/_layers/sha256/${'ab'.repeat(32)}/data`), undefined);
    assert.equal(registry2Layout.entry(`${PREFIX}_layers/sha256/${'ab'.repeat(32)}/link`), undefined);
  });

  it('when a link names an invalid repository, tag or digest, then it is reported as invalid', () => {
    assert.equal(registry2Layout.entry(`${PREFIX}Team/app/_layers/sha256/${'ab'.repeat(32)}/link`)?.kind, 'invalid');
    assert.equal(registry2Layout.entry(`${PREFIX}team/app/_manifests/tags/.hidden/current/link`)?.kind, 'invalid');
    assert.equal(registry2Layout.entry(`${PREFIX}team/app/_layers/md5/${'ab'.repeat(16)}/link`)?.kind, 'invalid');
    assert.equal(registry2Layout.entry(`${PREFIX}team/app/_layers/sha256/${'AB'.repeat(32)}/link`)?.kind, 'invalid');
  });
});
