import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RepositoryName, Tag } from '../oci/names.js';
import type { Route } from '../oci/routes.js';
import type { ResourceAccess } from './access.js';
import type { AccessStore, Permission } from './access-store.js';
import { AuthenticatedFullAccess, RoleAuthorizer } from './authorizer.js';
import { AccessDeniedError } from './errors.js';
import { AccessGate } from './gate.js';
import type { AuthenticationResult, Authenticator, ClientCredentials, Principal } from './principal.js';

/** Only the two lookups the authorizer makes. */
function store(users: Record<string, Permission[]>, anonymous: Permission[] = []): AccessStore {
  return {
    permissionsOf: async (user: string) => users[user] ?? [],
    permissionsOfRole: async (role: string) => (role === 'anonymous' ? anonymous : []),
  } as AccessStore;
}

const repo = (name: string, ...actions: string[]): ResourceAccess => ({ type: 'repository', name, actions });
const alice: Principal = { kind: 'user', name: 'alice', source: 'database' };
const anonymous: Principal = { kind: 'anonymous' };

describe('authorizers', () => {
  const roles = new RoleAuthorizer(
    store(
      {
        alice: [{ pattern: 'team-a/*', actions: ['push'] }, { pattern: 'shared/base', actions: ['pull'] }],
        root: [{ pattern: '*', actions: ['admin'] }],
        reader: [{ pattern: '*', actions: ['pull'] }],
      },
      [{ pattern: 'public/*', actions: ['pull'] }],
    ),
  );

  it('when a user holds roles, then grant returns exactly the covered subset; push and delete imply pull; admin implies all', async () => {
    assert.deepEqual(await roles.grant(alice, [repo('team-a/app', 'pull', 'push', 'delete'), repo('shared/base', 'pull', 'push'), repo('other', 'pull')]), [
      repo('team-a/app', 'pull', 'push'),
      repo('shared/base', 'pull'),
      repo('other'),
    ]);
    assert.deepEqual(await roles.grant({ kind: 'user', name: 'root', source: 'database' }, [repo('x/y', 'pull', 'push', 'delete')]), [repo('x/y', 'pull', 'push', 'delete')]);
    assert.deepEqual(await roles.grant({ kind: 'user', name: 'reader', source: 'database' }, [repo('x', 'pull', 'push')]), [repo('x', 'pull')]);
  });

  it('when the client is anonymous, then only the anonymous role applies, and only for pull', async () => {
    assert.deepEqual(await roles.grant(anonymous, [repo('public/x', 'pull', 'push'), repo('private/x', 'pull')]), [repo('public/x', 'pull'), repo('private/x')]);
  });

  it('when the principal carries token claims, then nothing outside them is granted, and our own tokens also follow current roles', async () => {
    const external: Principal = { kind: 'user', name: 'root', source: 'token', claims: [repo('a', 'pull')] };
    assert.deepEqual(await roles.grant(external, [repo('a', 'pull', 'push'), repo('b', 'pull')]), [repo('a', 'pull'), repo('b')]);
    const ours: Principal = { kind: 'user', name: 'alice', source: 'database', claims: [repo('team-a/app', 'pull', 'push'), repo('other', 'pull')], localToken: true };
    assert.deepEqual(await roles.grant(ours, [repo('team-a/app', 'push'), repo('other', 'pull')]), [repo('team-a/app', 'push'), repo('other')]);
  });

  it('when an htpasswd user asks, then everything is granted (registry:2 operators); the catalog needs some permission', async () => {
    const operator: Principal = { kind: 'user', name: 'op', source: 'htpasswd' };
    assert.deepEqual(await roles.grant(operator, [repo('any', 'delete')]), [repo('any', 'delete')]);
    const catalog = { type: 'registry', name: 'catalog', actions: ['*'] };
    assert.deepEqual(await roles.grant(alice, [catalog]), [catalog]);
    assert.deepEqual(await roles.grant({ kind: 'user', name: 'nobody', source: 'database' }, [catalog]), [{ ...catalog, actions: [] }]);
    assert.equal(await roles.isAdministrator({ kind: 'user', name: 'root', source: 'database' }), true);
    assert.equal(await roles.isAdministrator(alice), false);
  });

  it('when htpasswd alone decides, then any authenticated user may do anything and anonymous nothing', async () => {
    const full = new AuthenticatedFullAccess();
    assert.deepEqual(await full.grant(alice, [repo('x', 'pull', 'delete')]), [repo('x', 'pull', 'delete')]);
    assert.deepEqual(await full.grant(anonymous, [repo('x', 'pull')]), [repo('x')]);
  });
});

describe('the access gate', () => {
  const fixed = (result: AuthenticationResult): Authenticator => ({ authenticate: async () => result });
  const as = (principal: Principal) => fixed({ outcome: 'authenticated', principal });
  const credentials: ClientCredentials = { remoteAddress: '127.0.0.1', secure: false, loopback: true };
  const authorizer = new RoleAuthorizer(store({ alice: [{ pattern: 'team-a/*', actions: ['pull'] }] }));
  const manifestPut = { kind: 'manifest', name: 'team-a/app' as RepositoryName, reference: { tag: 'v1' as Tag } } satisfies Route;
  const manifestGet: Route = { ...manifestPut };
  const bearer = { scheme: 'bearer', service: 'berth' } as const;

  async function refusal(promise: Promise<unknown>): Promise<AccessDeniedError> {
    try {
      await promise;
    } catch (error) {
      assert.ok(error instanceof AccessDeniedError, String(error));
      return error;
    }
    assert.fail('expected a refusal');
  }

  it('when a known user lacks the action, then 403 DENIED; an anonymous client gets 401 with the challenge and scope', async () => {
    const denied = await refusal(new AccessGate(as(alice), authorizer, bearer).check(credentials, 'PUT', manifestPut, new URLSearchParams(), 'http://h:1'));
    assert.equal(denied.code, 'DENIED');
    const unauthorized = await refusal(new AccessGate(as(anonymous), authorizer, bearer).check(credentials, 'PUT', manifestPut, new URLSearchParams(), 'http://h:1'));
    assert.equal(unauthorized.code, 'UNAUTHORIZED');
    assert.deepEqual(unauthorized.challenge, { scheme: 'Bearer', params: { realm: 'http://h:1/token', service: 'berth', scope: 'repository:team-a/app:pull,push' } });
    const pass = await new AccessGate(as(alice), authorizer, bearer).check(credentials, 'GET', manifestGet, new URLSearchParams(), 'http://h:1');
    assert.equal(pass.principal, alice);
  });

  it('when a token names the resource but not the action, then 403; when it does not name the resource, then 401 insufficient_scope', async () => {
    const withPull: Principal = { kind: 'user', name: 'x', source: 'token', claims: [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }] };
    const gate = new AccessGate(as(withPull), new AuthenticatedFullAccess(), bearer);
    assert.equal((await refusal(gate.check(credentials, 'PUT', manifestPut, new URLSearchParams(), 'http://h'))).code, 'DENIED');
    const elsewhere = await refusal(gate.check(credentials, 'GET', { ...manifestGet, name: 'team-b/app' as RepositoryName }, new URLSearchParams(), 'http://h'));
    assert.equal(elsewhere.code, 'UNAUTHORIZED');
    assert.equal(elsewhere.challenge?.params.error, 'insufficient_scope');
  });

  it('when credentials are rejected or throttled, then 401 with the Basic challenge or 429 with Retry-After', async () => {
    const basic = { scheme: 'basic', realm: 'r' } as const;
    const rejected = await refusal(new AccessGate(fixed({ outcome: 'rejected', reason: 'bad' }), authorizer, basic).check(credentials, 'GET', manifestGet, new URLSearchParams(), 'http://h'));
    assert.deepEqual(rejected.challenge, { scheme: 'Basic', params: { realm: 'r' } });
    const throttled = await refusal(new AccessGate(fixed({ outcome: 'rejected', reason: 'slow down', throttled: { retryAfterSeconds: 42 } }), authorizer, basic).check(credentials, 'GET', manifestGet, new URLSearchParams(), 'http://h'));
    assert.equal(throttled.code, 'TOOMANYREQUESTS');
    assert.equal(throttled.retryAfterSeconds, 42);
  });

  it('when a mount source may not be read, then the request passes without the mount; /v2/ needs a login', async () => {
    const gate = new AccessGate(as({ kind: 'user', name: 'op', source: 'htpasswd' }), new AuthenticatedFullAccess(), bearer);
    const upload = { kind: 'upload-start', name: 'team-a/app' as RepositoryName } as const;
    assert.equal((await gate.check(credentials, 'POST', upload, new URLSearchParams('mount=sha256:x&from=b'), 'http://h')).dropMount, false);
    const limited = new AccessGate(as({ kind: 'user', name: 'x', source: 'token', claims: [{ type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] }] }), new AuthenticatedFullAccess(), bearer);
    assert.equal((await limited.check(credentials, 'POST', upload, new URLSearchParams('mount=sha256:x&from=b'), 'http://h')).dropMount, true);
    const anonymousBase = await refusal(new AccessGate(as(anonymous), authorizer, bearer).check(credentials, 'GET', { kind: 'base' }, new URLSearchParams(), 'http://h'));
    assert.equal(anonymousBase.code, 'UNAUTHORIZED');
    assert.equal(anonymousBase.challenge?.params.scope, undefined);
  });
});
