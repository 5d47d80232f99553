import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { covers, formatScope, intersectAccess, parseScope, parseScopes, ScopeError } from './access.js';
import { isValidPattern, matchesPattern } from './patterns.js';
import { requiredAccess } from './required-access.js';
import type { Route } from '../oci/routes.js';
import type { RepositoryName } from '../oci/names.js';

describe('scopes', () => {
  it('when a scope is well formed, then type, name and actions are parsed (names may hold a host:port)', () => {
    assert.deepEqual(parseScope('repository:team-a/app:pull,push'), { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
    assert.deepEqual(parseScope('repository(plugin):samalba/x:pull'), { type: 'repository', name: 'samalba/x', actions: ['pull'] });
    assert.deepEqual(parseScope('other:localhost:5000/x:pull'), { type: 'other', name: 'localhost:5000/x', actions: ['pull'] });
    assert.equal(formatScope({ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }), 'repository:a/b:pull,push');
  });

  it('when scopes repeat a resource, then they merge into one entry', () => {
    assert.deepEqual(parseScopes(['repository:a:pull repository:b:push', 'repository:a:push,pull']), [
      { type: 'repository', name: 'a', actions: ['pull', 'push'] },
      { type: 'repository', name: 'b', actions: ['push'] },
    ]);
  });

  it('when a scope is malformed, then ScopeError says why', () => {
    for (const bad of ['', 'repository', 'repository:a', ':a:pull', 'repository::pull', 'repository:a:', 'repository:a:pu ll', 'repository:UPPER:pull', 'repository:a/../b:pull', 'Repo:a:pull', `repository:${'a'.repeat(2000)}:pull`, 'repository:a:pull,']) {
      assert.throws(() => parseScope(bad), ScopeError, JSON.stringify(bad));
    }
  });

  it('when access is intersected, then only actions on both sides remain and * covers every action', () => {
    const requested = [{ type: 'repository', name: 'a', actions: ['pull', 'push'] }, { type: 'repository', name: 'b', actions: ['pull'] }];
    assert.deepEqual(intersectAccess(requested, [{ type: 'repository', name: 'a', actions: ['pull'] }]), [
      { type: 'repository', name: 'a', actions: ['pull'] },
      { type: 'repository', name: 'b', actions: [] },
    ]);
    assert.ok(covers([{ type: 'repository', name: 'a', actions: ['*'] }], [{ type: 'repository', name: 'a', actions: ['pull', 'delete'] }]));
    assert.ok(!covers([{ type: 'repository', name: 'a', actions: ['pull'] }], [{ type: 'repository', name: 'a', actions: ['pull', 'push'] }]));
    assert.ok(covers([], []));
  });
});

describe('repository patterns', () => {
  it('when a pattern has *, then it covers any run of characters, / included', () => {
    assert.ok(matchesPattern('*', 'anything/at/all'));
    assert.ok(matchesPattern('team-a/*', 'team-a/app'));
    assert.ok(matchesPattern('team-a/*', 'team-a/x/y'));
    assert.ok(!matchesPattern('team-a/*', 'team-ab/app'));
    assert.ok(!matchesPattern('team-a/*', 'team-a'));
    assert.ok(matchesPattern('team-a/app', 'team-a/app'));
    assert.ok(!matchesPattern('team-a/app', 'team-a/app2'));
    assert.ok(matchesPattern('*/base', 'x/y/base'));
  });

  it('when a pattern is validated, then names, prefixes and * pass and junk does not', () => {
    for (const good of ['*', 'team-a/*', 'library/alpine', '*/base']) assert.ok(isValidPattern(good), good);
    for (const bad of ['', 'UPPER', 'a//b', '**', '../x', 'a b', 'team-a/**']) assert.ok(!isValidPattern(bad), bad);
  });
});

describe('required access per (method, route)', () => {
  const name = 'team/app' as RepositoryName;
  const q = (text = '') => new URLSearchParams(text);
  const route = (kind: string, extra: object = {}) => ({ kind, name, ...extra }) as Route;

  it('when a request reads, then it needs pull; writes need pull and push; deletes need delete; the catalog needs registry:catalog:*', () => {
    assert.deepEqual(requiredAccess('GET', route('manifest'), q()).required, [{ type: 'repository', name, actions: ['pull'] }]);
    assert.deepEqual(requiredAccess('HEAD', route('blob'), q()).required, [{ type: 'repository', name, actions: ['pull'] }]);
    assert.deepEqual(requiredAccess('GET', route('tags'), q()).required, [{ type: 'repository', name, actions: ['pull'] }]);
    assert.deepEqual(requiredAccess('GET', route('referrers'), q()).required, [{ type: 'repository', name, actions: ['pull'] }]);
    assert.deepEqual(requiredAccess('PUT', route('manifest'), q()).required, [{ type: 'repository', name, actions: ['pull', 'push'] }]);
    assert.deepEqual(requiredAccess('PATCH', route('upload'), q()).required, [{ type: 'repository', name, actions: ['pull', 'push'] }]);
    assert.deepEqual(requiredAccess('DELETE', route('manifest'), q()).required, [{ type: 'repository', name, actions: ['delete'] }]);
    assert.deepEqual(requiredAccess('DELETE', route('blob'), q()).required, [{ type: 'repository', name, actions: ['delete'] }]);
    assert.deepEqual(requiredAccess('GET', { kind: 'catalog' }, q()).required, [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    assert.deepEqual(requiredAccess('GET', { kind: 'base' }, q()), { required: [], optional: [] });
  });

  it('when an upload mounts from another repository, then pull on the source is optional', () => {
    const access = requiredAccess('POST', route('upload-start'), q('mount=sha256:abc&from=other/repo'));
    assert.deepEqual(access.required, [{ type: 'repository', name, actions: ['pull', 'push'] }]);
    assert.deepEqual(access.optional, [{ type: 'repository', name: 'other/repo', actions: ['pull'] }]);
    assert.deepEqual(requiredAccess('POST', route('upload-start'), q()).optional, []);
  });
});
