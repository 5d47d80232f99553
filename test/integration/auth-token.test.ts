import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadSigningKey, TokenSigner } from '../../src/auth/tokens.js';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { errorCode } from '../support/oci-client.js';
import { AuthorizedClient, basic, claimsOf, tokenFor } from './auth-support.js';

/**
 * Token mode with Berth as the issuer, and users/roles in the database: the admin API sets up a
 * team, then the Docker token flow, scopes, denials, refresh, anonymous pull and the catalog.
 */
describe('token authentication with users and roles', () => {
  let registry: TestRegistry;
  let admin: string;
  const bearer = (token: string) => new AuthorizedClient(registry.url, `Bearer ${token}`);

  async function api(method: string, path: string, body?: unknown, authorization = admin): Promise<Response> {
    return fetch(new URL(path, registry.url), {
      method,
      headers: { Authorization: authorization, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  before(async () => {
    registry = await startInProcess({ auth: { token: { service: 'berth', issuer: 'berth-test' } } });
    const password = (await readFile(join(registry.dataDir, 'storage', 'admin-password'), 'utf8')).trim();
    admin = basic('admin', password);
    assert.equal((await api('PUT', '/api/v1/roles/team-a', { permissions: [{ pattern: 'team-a/*', actions: ['push'] }] })).status, 201);
    assert.equal((await api('PUT', '/api/v1/roles/readers', { description: 'pull everything', permissions: [{ pattern: '*', actions: ['pull'] }] })).status, 201);
    assert.equal((await api('PUT', '/api/v1/users/alice', { password: 'alice-password', roles: ['team-a'] })).status, 201);
    assert.equal((await api('PUT', '/api/v1/users/reader', { password: 'reader-password', roles: ['readers'] })).status, 201);
    const adminPush = bearer(await tokenFor(registry.url, ['repository:team-b/app:pull,push'], admin));
    await adminPush.pushImage('team-b/app', 'v1', ['b-layer']);
  });
  after(() => registry.destroy());

  it('when Berth starts the first time, then admin gets a random password in a 0600 file', async () => {
    const file = join(registry.dataDir, 'storage', 'admin-password');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match((await readFile(file, 'utf8')).trim(), /^[A-Za-z0-9_-]{32}$/);
    assert.equal((await stat(join(registry.dataDir, 'storage', 'token-signing-key.pem'))).mode & 0o777, 0o600);
  });

  it('when a client has no token, then 401 with Bearer realm, service and scope', async () => {
    const response = await fetch(new URL('/v2/team-a/app/manifests/v1', registry.url));
    assert.equal(response.status, 401);
    const host = new URL(registry.url).host;
    assert.equal(response.headers.get('www-authenticate'), `Bearer realm="http://${host}/token",service="berth",scope="repository:team-a/app:pull"`);
    assert.equal(await errorCode(response), 'UNAUTHORIZED');
    const base = await fetch(new URL('/v2/', registry.url));
    assert.equal(base.headers.get('www-authenticate'), `Bearer realm="http://${host}/token",service="berth"`);
  });

  it('when a user asks for a token, then it carries only the granted actions, signed for this service and issuer', async () => {
    const response = await fetch(new URL('/token?service=berth&scope=repository:team-a/app:pull,push,delete&scope=repository:team-b/app:pull', registry.url), { headers: { Authorization: basic('alice', 'alice-password') } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const body = (await response.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 300);
    const claims = claimsOf(body.token);
    assert.equal(claims.iss, 'berth-test');
    assert.equal(claims.aud, 'berth');
    assert.equal(claims.sub, 'alice');
    assert.equal((claims.exp as number) - (claims.iat as number), 300);
    assert.deepEqual(claims.access, [
      { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'team-b/app', actions: [] },
    ]);
  });

  it('when the token allows push, then the push works; a pull-only token is denied (403) and a token for other repositories gets 401 insufficient_scope', async () => {
    const pusher = bearer(await tokenFor(registry.url, ['repository:team-a/app:pull,push'], basic('alice', 'alice-password')));
    await pusher.pushImage('team-a/app', 'v1', ['a-layer']);
    const reader = bearer(await tokenFor(registry.url, ['repository:team-a/app:pull,push'], basic('reader', 'reader-password')));
    assert.equal((await reader.request('/v2/team-a/app/manifests/v1')).status, 200);
    const denied = await reader.request('/v2/team-a/app/blobs/uploads/', { method: 'POST' });
    assert.equal(denied.status, 403);
    assert.equal(await errorCode(denied), 'DENIED');
    const elsewhere = await pusher.request('/v2/team-b/app/manifests/v1');
    assert.equal(elsewhere.status, 401);
    assert.match(elsewhere.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    const noDelete = await pusher.request('/v2/team-a/app/manifests/v1', { method: 'DELETE' });
    assert.equal(noDelete.status, 403, 'the token covers the repository without delete');
  });

  it('when a token is tampered with, expired, for another service or malformed, then 401 with error="invalid_token"', async () => {
    const token = await tokenFor(registry.url, ['repository:team-a/app:pull'], basic('alice', 'alice-password'));
    const [header, payload, signature] = token.split('.');
    const widened = Buffer.from(JSON.stringify({ ...claimsOf(token), access: [{ type: 'repository', name: 'team-b/app', actions: ['pull'] }] })).toString('base64url');
    const { key } = loadSigningKey(join(registry.dataDir, 'storage', 'token-signing-key.pem'), false);
    const expired = await new TokenSigner(key, 'berth-test', 'berth').sign('alice', [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }], 60, 'database', Math.floor(Date.now() / 1000) - 600);
    const otherService = await new TokenSigner(key, 'berth-test', 'another-registry').sign('alice', [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }], 60, 'database');
    const cases = [`Bearer ${header}.${widened}.${signature}`, `Bearer ${expired}`, `Bearer ${otherService}`, 'Bearer not-a-jwt', 'Bearer', `Bearer ${header}.${payload}.`];
    for (const authorization of cases) {
      const response = await fetch(new URL('/v2/team-a/app/manifests/v1', registry.url), { headers: { Authorization: authorization } });
      assert.equal(response.status, 401, authorization.slice(0, 40));
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer realm=.*error="invalid_token"/);
    }
  });

  it('when the token request is bad, then the token service answers with OAuth2 errors', async () => {
    const bad = async (query: string, authorization?: string) => fetch(new URL(`/token?${query}`, registry.url), { headers: authorization ? { Authorization: authorization } : {} });
    for (const scope of ['repository', 'repository:team-a/app', 'repository:UPPER:pull', 'repository:a:pull;rm', 'repository:team-a/app:']) {
      const response = await bad(`service=berth&scope=${encodeURIComponent(scope)}`, basic('alice', 'alice-password'));
      assert.equal(response.status, 400, scope);
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_scope');
    }
    const otherService = await bad('service=someone-else&scope=repository:team-a/app:pull', basic('alice', 'alice-password'));
    assert.equal(otherService.status, 400);
    const wrong = await bad('service=berth', basic('alice', 'not-her-password'));
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const unknown = await bad('service=berth', basic('nobody', 'whatever-password'));
    assert.equal(unknown.status, 401);
  });

  it('when OAuth2 POST /token is used, then password and refresh_token grants work, and a password change voids the refresh token', async () => {
    const post = (form: Record<string, string>) => fetch(new URL('/token', registry.url), { method: 'POST', body: new URLSearchParams(form) });
    const first = await post({ grant_type: 'password', username: 'alice', password: 'alice-password', service: 'berth', client_id: 'test', access_type: 'offline', scope: 'repository:team-a/app:pull' });
    assert.equal(first.status, 200);
    const issued = (await first.json()) as { access_token: string; refresh_token: string; scope: string };
    assert.equal(issued.scope, 'repository:team-a/app:pull');
    assert.ok(issued.refresh_token);
    const refreshed = await post({ grant_type: 'refresh_token', refresh_token: issued.refresh_token, service: 'berth', client_id: 'test', scope: 'repository:team-a/app:pull,push' });
    assert.equal(refreshed.status, 200);
    assert.deepEqual(claimsOf(((await refreshed.json()) as { access_token: string }).access_token).access, [{ type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] }]);
    assert.equal((await post({ grant_type: 'password', username: 'alice', password: 'nope', service: 'berth', client_id: 'test' })).status, 401);
    assert.equal(((await (await post({ grant_type: 'client_credentials' })).json()) as { error: string }).error, 'unsupported_grant_type');
    assert.equal((await api('PUT', '/api/v1/users/alice/password', { password: 'alice-new-password' })).status, 204);
    const stale = await post({ grant_type: 'refresh_token', refresh_token: issued.refresh_token, service: 'berth', client_id: 'test' });
    assert.equal(stale.status, 400);
    assert.equal(((await stale.json()) as { error: string }).error, 'invalid_grant');
    assert.equal((await api('PUT', '/api/v1/users/alice/password', { password: 'alice-password' })).status, 204);
  });

  it('when a token login fails, by form or by header, then the audit trail records it once per attempt, never the password', async () => {
    const form = { grant_type: 'password', username: 'mallory-form', password: 'form-secret-guess', service: 'berth', client_id: 'test' };
    assert.equal((await fetch(new URL('/token', registry.url), { method: 'POST', body: new URLSearchParams(form) })).status, 401);
    assert.equal((await fetch(new URL('/token?service=berth', registry.url), { headers: { Authorization: basic('mallory-header', 'header-secret-guess') } })).status, 401);
    const audit = async (user: string) => ((await (await api('GET', `/api/v1/audit?action=auth.failure&user=${user}`)).json()) as { entries: { address?: string }[] }).entries;
    // Entries are appended after the answer; poll until they land.
    const deadline = Date.now() + 10_000;
    while ((await audit('mallory-form')).length + (await audit('mallory-header')).length < 2 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    for (const user of ['mallory-form', 'mallory-header']) {
      const found = await audit(user);
      assert.equal(found.length, 1, `${user}: ${JSON.stringify(found)}`);
      assert.equal(found[0]!.address, '127.0.0.1');
    }
    const exported = await (await api('GET', '/api/v1/audit/export')).text();
    assert.ok(!exported.includes('form-secret-guess') && !exported.includes('header-secret-guess'));
  });

  it('when anonymous pull is granted for a pattern, then anonymous tokens pull there and nowhere else', async () => {
    const before = await fetch(new URL('/token?service=berth&scope=repository:team-b/app:pull', registry.url));
    assert.deepEqual(claimsOf(((await before.json()) as { token: string }).token).access, [{ type: 'repository', name: 'team-b/app', actions: [] }]);
    assert.equal((await api('PUT', '/api/v1/roles/anonymous', { permissions: [{ pattern: 'team-b/*', actions: ['pull'] }] })).status, 200);
    const anonymous = bearer(await tokenFor(registry.url, ['repository:team-b/app:pull,push', 'repository:team-a/app:pull']));
    assert.equal((await anonymous.request('/v2/team-b/app/manifests/v1')).status, 200);
    assert.equal((await anonymous.request('/v2/team-a/app/manifests/v1')).status, 403);
    assert.equal((await anonymous.request('/v2/team-b/app/blobs/uploads/', { method: 'POST' })).status, 403);
    assert.equal((await api('PUT', '/api/v1/roles/anonymous', { permissions: [{ pattern: 'team-b/*', actions: ['push'] }] })).status, 403, 'anonymous may only pull');
    assert.equal((await api('PUT', '/api/v1/roles/anonymous', { permissions: [] })).status, 200);
    assert.equal((await anonymous.request('/v2/team-b/app/manifests/v1')).status, 403, 'revoking applies to tokens already issued');
  });

  it('when the catalog is listed, then only repositories the caller may pull appear, with pagination intact', async () => {
    const catalog = async (authorization: string, query = '') => {
      const token = await tokenFor(registry.url, ['registry:catalog:*'], authorization);
      const response = await bearer(token).request(`/v2/_catalog${query}`);
      assert.equal(response.status, 200);
      return { body: (await response.json()) as { repositories: string[] }, link: response.headers.get('link') };
    };
    assert.deepEqual((await catalog(basic('alice', 'alice-password'))).body.repositories, ['team-a/app']);
    assert.deepEqual((await catalog(basic('reader', 'reader-password'))).body.repositories, ['team-a/app', 'team-b/app']);
    assert.deepEqual((await catalog(admin)).body.repositories, ['team-a/app', 'team-b/app']);
    const firstPage = await catalog(basic('reader', 'reader-password'), '?n=1');
    assert.deepEqual(firstPage.body.repositories, ['team-a/app']);
    assert.match(firstPage.link ?? '', /last=team-a%2Fapp/);
  });

  it('when a mount names a source the user may not read, then the upload starts normally instead of mounting', async () => {
    const digest = (await (await bearer(await tokenFor(registry.url, ['repository:team-b/app:pull'], admin)).request('/v2/team-b/app/manifests/v1')).json()) as { layers: { digest: string }[] };
    const layer = digest.layers[0]!.digest;
    const alice = bearer(await tokenFor(registry.url, ['repository:team-a/other:pull,push', 'repository:team-b/app:pull'], basic('alice', 'alice-password')));
    const response = await alice.request(`/v2/team-a/other/blobs/uploads/?mount=${layer}&from=team-b/app`, { method: 'POST' });
    assert.equal(response.status, 202);
    assert.ok(response.headers.get('docker-upload-uuid'));
    const mounted = await bearer(await tokenFor(registry.url, ['repository:team-a/other:pull,push', 'repository:team-b/app:pull'], admin)).request(`/v2/team-a/other/blobs/uploads/?mount=${layer}&from=team-b/app`, { method: 'POST' });
    assert.equal(mounted.status, 201, 'with pull on the source the blob is mounted');
  });

  it('when Basic credentials are sent to /v2 directly in token mode, then they work too', async () => {
    assert.equal((await fetch(new URL('/v2/team-a/app/tags/list', registry.url), { headers: { Authorization: basic('alice', 'alice-password') } })).status, 200);
    assert.equal((await fetch(new URL('/v2/team-b/app/tags/list', registry.url), { headers: { Authorization: basic('alice', 'alice-password') } })).status, 403);
  });
});

describe('the admin API', () => {
  let registry: TestRegistry;
  let admin: string;
  const call = (method: string, path: string, authorization?: string, body?: string, contentType = 'application/json') =>
    fetch(new URL(path, registry.url), { method, headers: { ...(authorization ? { Authorization: authorization } : {}), ...(body !== undefined ? { 'Content-Type': contentType } : {}) }, body });

  before(async () => {
    registry = await startInProcess({ auth: { accounts: { realm: 'berth' } } });
    admin = basic('admin', (await readFile(join(registry.dataDir, 'storage', 'admin-password'), 'utf8')).trim());
  });
  after(() => registry.destroy());

  it('when users and roles are managed, then the API answers with JSON and never returns password hashes', async () => {
    assert.equal((await call('PUT', '/api/v1/roles/devs', admin, JSON.stringify({ permissions: [{ pattern: 'dev/*', actions: ['pull', 'push'] }] }))).status, 201);
    const created = await call('PUT', '/api/v1/users/carol', admin, JSON.stringify({ password: 'carol-password', roles: ['devs'] }));
    assert.equal(created.status, 201);
    const user = (await created.json()) as Record<string, unknown>;
    assert.deepEqual({ name: user.name, roles: user.roles }, { name: 'carol', roles: ['devs'] });
    const list = await (await call('GET', '/api/v1/users', admin)).text();
    assert.ok(!list.includes('$2'), 'no hash in the listing');
    const roles = (await (await call('GET', '/api/v1/roles', admin)).json()) as { roles: { name: string }[] };
    assert.deepEqual(roles.roles.map((role) => role.name), ['admin', 'anonymous', 'devs']);
    const whoami = (await (await call('GET', '/api/v1/whoami', basic('carol', 'carol-password'))).json()) as Record<string, unknown>;
    assert.deepEqual(whoami, { name: 'carol', source: 'database', administrator: false });
    assert.equal((await fetch(new URL('/v2/dev/app/tags/list', registry.url), { headers: { Authorization: basic('carol', 'carol-password') } })).status, 404, 'carol may pull dev/*: the repository is just empty');
    assert.equal((await call('DELETE', '/api/v1/users/carol', admin)).status, 204);
    assert.equal((await fetch(new URL('/v2/', registry.url), { headers: { Authorization: basic('carol', 'carol-password') } })).status, 401);
  });

  it('when the API is misused, then its own envelope carries the error', async () => {
    const expect = async (response: Response, status: number, code: string) => {
      assert.equal(response.status, status);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, code);
      assert.equal(typeof body.error.message, 'string');
    };
    await expect(await call('GET', '/api/v1/users'), 401, 'UNAUTHORIZED');
    await expect(await call('GET', '/api/v1/users', basic('admin', 'wrong-password')), 401, 'UNAUTHORIZED');
    await call('PUT', '/api/v1/users/dave', admin, JSON.stringify({ password: 'dave-password' }));
    await expect(await call('GET', '/api/v1/users', basic('dave', 'dave-password')), 403, 'DENIED');
    await expect(await call('GET', '/api/v1/users/nobody', admin), 404, 'NOT_FOUND');
    await expect(await call('GET', '/api/v1/nothing', admin), 404, 'NOT_FOUND');
    await expect(await call('POST', '/api/v1/users', admin), 405, 'UNSUPPORTED');
    await expect(await call('PUT', '/api/v1/users/eve', admin, '{not json'), 400, 'INVALID_REQUEST');
    await expect(await call('PUT', '/api/v1/users/eve', admin, 'password=x', 'application/x-www-form-urlencoded'), 400, 'INVALID_REQUEST');
    await expect(await call('PUT', '/api/v1/users/eve', admin, JSON.stringify({ password: 'short' })), 400, 'INVALID_REQUEST');
    await expect(await call('PUT', '/api/v1/users/Bad%20Name', admin, JSON.stringify({ password: 'long-enough' })), 400, 'INVALID_REQUEST');
    await expect(await call('PUT', '/api/v1/users/eve', admin, JSON.stringify({ password: 'long-enough', roles: ['ghosts'] })), 404, 'NOT_FOUND');
    await expect(await call('PUT', '/api/v1/roles/x', admin, JSON.stringify({ permissions: [{ pattern: 'a//b', actions: ['pull'] }] })), 400, 'INVALID_REQUEST');
    await expect(await call('PUT', '/api/v1/roles/x', admin, JSON.stringify({ permissions: [{ pattern: 'a', actions: ['fly'] }] })), 400, 'INVALID_REQUEST');
    await expect(await call('DELETE', '/api/v1/roles/admin', admin), 403, 'DENIED');
    await expect(await call('DELETE', '/api/v1/users/admin', admin), 403, 'DENIED');
  });

  it('when there is no auth section, then /token and /api/v1 do not exist (an open registry, as before)', async () => {
    const open = await startInProcess({});
    try {
      assert.equal((await fetch(new URL('/v2/', open.url))).status, 200);
      assert.equal((await fetch(new URL('/token', open.url))).status, 404);
      assert.equal((await fetch(new URL('/api/v1/users', open.url))).status, 404);
    } finally {
      await open.destroy();
    }
  });
});
