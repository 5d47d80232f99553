import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { Digester, digestAlgorithm, digestHex, digestOf, parseDigest } from './digest.js';
import type { RegistryError } from './errors.js';

describe('digests', () => {
  it('when sha256 and sha512 digests are well formed, then they parse into algorithm and hex', () => {
    const sha256 = `sha256:${'0123456789abcdef'.repeat(4)}`;
    const sha512 = `sha512:${'0123456789abcdef'.repeat(8)}`;
    assert.equal(digestAlgorithm(parseDigest(sha256)), 'sha256');
    assert.equal(digestHex(parseDigest(sha512)), '0123456789abcdef'.repeat(8));
  });

  it('when a digest is malformed, of the wrong length or algorithm, then DIGEST_INVALID', () => {
    const bad = ['', 'sha256', 'sha256:', ':abc', `sha256:${'a'.repeat(63)}`, `sha256:${'a'.repeat(65)}`, `sha256:${'A'.repeat(64)}`, `sha384:${'a'.repeat(96)}`, `sha256:${'a'.repeat(62)}/.`, `sha256:../../${'a'.repeat(58)}`];
    for (const value of bad) assert.throws(() => parseDigest(value), (error: RegistryError) => error.code === 'DIGEST_INVALID', value);
  });

  it('when bytes are fed in chunks, then the digest equals the one-shot hash and the state continues', () => {
    const digester = new Digester();
    digester.update(Buffer.from('hello '));
    const partial = digester.digest();
    digester.update(Buffer.from('world'));
    assert.equal(partial, `sha256:${createHash('sha256').update('hello ').digest('hex')}`);
    assert.equal(digester.digest(), digestOf(Buffer.from('hello world')));
    assert.equal(digester.size, 11);
  });
});
