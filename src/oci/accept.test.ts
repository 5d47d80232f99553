import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accepts, parseAccept, requireAcceptable } from './accept.js';
import type { Digest } from './digest.js';
import type { RegistryError } from './errors.js';
import { MediaType } from './media-types.js';
import type { Tag } from './names.js';

const TAG = { tag: 'v1' as Tag };
const DIGEST = { digest: `sha256:${'a'.repeat(64)}` as Digest };

describe('Accept negotiation', () => {
  it('when an Accept header lists ranges with parameters and weights, then each is read', () => {
    assert.deepEqual(parseAccept(`${MediaType.OciManifest}, Application/*; Q=0.5 ,*/*;q=0, text/html;level=1;q="0.25"`), [
      { type: 'application', subtype: 'vnd.oci.image.manifest.v1+json', weight: 1 },
      { type: 'application', subtype: '*', weight: 0.5 },
      { type: '*', subtype: '*', weight: 0 },
      { type: 'text', subtype: 'html', weight: 0.25 },
    ]);
  });

  it('when elements cannot be read, then they are skipped; a header with none readable means no preference', () => {
    assert.deepEqual(parseAccept('garbage, */json, a/b;q=2, a/c;q=0.1234, , a/d'), [{ type: 'a', subtype: 'd', weight: 1 }]);
    assert.deepEqual(parseAccept('garbage'), []);
    assert.deepEqual(parseAccept(undefined), []);
    assert.deepEqual(parseAccept('a/b;x="1,2", c/d'), [{ type: 'a', subtype: 'b', weight: 1 }, { type: 'c', subtype: 'd', weight: 1 }], 'a comma inside quotes');
  });

  it('when the client states no preference, then every media type is acceptable', () => {
    assert.equal(accepts(parseAccept(undefined), MediaType.OciIndex), true);
    assert.equal(accepts(parseAccept('*/*'), MediaType.OciIndex), true);
    assert.equal(accepts(parseAccept('application/*'), MediaType.OciIndex), true);
    assert.equal(accepts(parseAccept('text/*'), MediaType.OciIndex), false);
  });

  it('when ranges of different specificity match, then the most specific decides, and q=0 excludes', () => {
    assert.equal(accepts(parseAccept(`*/*, ${MediaType.OciIndex};q=0`), MediaType.OciIndex), false);
    assert.equal(accepts(parseAccept(`*/*, ${MediaType.OciIndex};q=0`), MediaType.OciManifest), true);
    assert.equal(accepts(parseAccept(`application/*;q=0, ${MediaType.OciManifest}`), MediaType.OciManifest), true);
    assert.equal(accepts(parseAccept(`application/*;q=0, */*`), MediaType.OciManifest), false);
    assert.equal(accepts(parseAccept(MediaType.DockerManifest.toUpperCase()), MediaType.DockerManifest), true);
  });

  it('when a manifest is asked for by tag in a type the client does not accept, then MANIFEST_UNKNOWN in registry:2 words; by digest it is served', () => {
    const dockerOnly = parseAccept(`${MediaType.DockerManifest}, ${MediaType.DockerManifestList}`);
    const cases: [string, string][] = [
      [MediaType.OciManifest, 'OCI manifest found, but accept header does not support OCI manifests'],
      [MediaType.OciIndex, 'OCI index found, but accept header does not support OCI indexes'],
    ];
    for (const [mediaType, message] of cases) {
      assert.throws(() => requireAcceptable(mediaType, TAG, dockerOnly), (error: RegistryError) => error.code === 'MANIFEST_UNKNOWN' && error.message === message);
      assert.doesNotThrow(() => requireAcceptable(mediaType, DIGEST, dockerOnly));
    }
    const singleOnly = parseAccept(MediaType.DockerManifest);
    assert.throws(() => requireAcceptable(MediaType.DockerManifestList, TAG, singleOnly), (error: RegistryError) => error.code === 'MANIFEST_UNKNOWN');
    assert.doesNotThrow(() => requireAcceptable(MediaType.DockerManifest, TAG, singleOnly));
  });
});
