import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from './errors.js';
import { isRepositoryName, isTag, parseRepositoryName, parseTag } from './names.js';

describe('repository names', () => {
  it('when a name follows the spec grammar, then it is accepted', () => {
    for (const name of ['a', 'library/ubuntu', 'team/app/api', 'a.b', 'a_b', 'a__b', 'a-b', 'a---b', 'x9/y8', 'a'.repeat(255)]) {
      assert.equal(isRepositoryName(name), true, name);
    }
  });

  it('when a name breaks the grammar, then NAME_INVALID names it', () => {
    for (const name of ['', 'A', 'a/', '/a', 'a//b', 'a/../b', '..', '.a', 'a.', 'a___b', 'a..b', 'a-/b', 'a b', 'a:b', 'a'.repeat(256), 'é']) {
      assert.equal(isRepositoryName(name), false, name);
      assert.throws(() => parseRepositoryName(name), (error: RegistryError) => error.code === 'NAME_INVALID' && error.status === 400);
    }
  });

  it('when a tag follows the grammar, then it is accepted; otherwise TAG_INVALID', () => {
    for (const tag of ['latest', 'v1.2.3', '_private', 'A-b_c.d', 't'.repeat(128)]) assert.equal(isTag(tag), true, tag);
    for (const tag of ['', '-a', '.a', 't'.repeat(129), 'a/b', 'a:b', 'a b']) {
      assert.throws(() => parseTag(tag), (error: RegistryError) => error.code === 'TAG_INVALID', tag);
    }
  });

  it('when an invalid name has control characters, then the message stays printable', () => {
    assert.throws(() => parseRepositoryName('bad\nname\u0000'), (error: RegistryError) => !/[\n\u0000]/.test(error.message));
  });
});
