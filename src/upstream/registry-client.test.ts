import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenge } from './challenge.js';
import { sameDomain } from './registry-client.js';

describe('upstream auth decisions', () => {
  it('when a challenge is Bearer with quoted and bare parameters, then realm, service and scope are read, escapes undone', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
    assert.deepEqual(parseChallenge('Basic realm=test, charset="UTF-8"'), { scheme: 'basic', params: { realm: 'test', charset: 'UTF-8' } });
    assert.deepEqual(parseChallenge('Bearer realm="a\\"b"'), { scheme: 'bearer', params: { realm: 'a"b' } });
    assert.equal(parseChallenge(null), undefined);
    assert.equal(parseChallenge('  '), undefined);
  });

  it('when a token realm is on another domain, then upstream credentials are not for it; its own domain (Docker Hub\'s auth host) is', () => {
    assert.equal(sameDomain('auth.docker.io', 'registry-1.docker.io'), true);
    assert.equal(sameDomain('127.0.0.1', '127.0.0.1'), true);
    assert.equal(sameDomain('evil.example', 'registry-1.docker.io'), false);
    assert.equal(sameDomain('docker.io.evil.example', 'registry-1.docker.io'), false);
    assert.equal(sameDomain('127.0.0.2', '127.0.0.1'), false);
    assert.equal(sameDomain('localhost', '127.0.0.1'), false);
    assert.equal(sameDomain('auth.example', 'localhost'), false);
    assert.equal(sameDomain('evil.io', 'ghcr.io'), false, 'a two-label upstream trusts only itself');
    assert.equal(sameDomain('evil.co.uk', 'registry.foo.co.uk'), false);
    assert.equal(sameDomain('auth.foo.co.uk', 'registry.foo.co.uk'), true);
  });
});
