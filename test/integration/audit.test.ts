import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { AuthorizedClient, basic } from './auth-support.js';

interface Entry {
  id: number;
  time: string;
  user: string;
  action: string;
  repository?: string;
  target?: string;
  address?: string;
  detail?: Record<string, unknown>;
}

describe('the audit trail', () => {
  let registry: TestRegistry;
  let admin: string;
  const carolPassword = 'carol-secret-password';

  async function api(method: string, path: string, body?: unknown, authorization = admin): Promise<Response> {
    return fetch(new URL(path, registry.url), {
      method,
      headers: { Authorization: authorization, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
  const entries = async (query: string) => ((await (await api('GET', `/api/v1/audit?${query}`)).json()) as { entries: Entry[] }).entries;

  before(async () => {
    registry = await startInProcess({ auth: { accounts: { realm: 'berth' } } });
    admin = basic('admin', (await readFile(join(registry.dataDir, 'storage', 'admin-password'), 'utf8')).trim());
    assert.equal((await api('PUT', '/api/v1/roles/shop', { permissions: [{ pattern: 'shop/*', actions: ['pull', 'push', 'delete'] }] })).status, 201);
    assert.equal((await api('PUT', '/api/v1/users/carol', { password: carolPassword, roles: ['shop'] })).status, 201);
    const carol = new AuthorizedClient(registry.url, basic('carol', carolPassword));
    await carol.pushImage('shop/web', 'v1', ['web-one']);
    await carol.pushImage('shop/web', 'v2', ['web-two']);
    assert.equal((await carol.request('/v2/shop/web/manifests/v1', { method: 'DELETE' })).status, 202);
    assert.equal((await new AuthorizedClient(registry.url, basic('carol', 'wrong')).request('/v2/')).status, 401);
  });
  after(() => registry.destroy());

  it('when an administrator asks who deleted tag v1, then the trail names the user, the address and the time', async () => {
    const found = await entries('repository=shop/web&action=tag.delete');
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0]!.user, 'carol');
    assert.equal(found[0]!.target, 'v1');
    assert.equal(found[0]!.address, '127.0.0.1');
    assert.ok(Date.now() - Date.parse(found[0]!.time) < 60_000);
  });

  it('when filtered by user and action, then pushes, user changes and failed logins are there, and a time window narrows them', async () => {
    assert.deepEqual((await entries('user=carol&action=image.push')).map((entry) => entry.target), ['v1', 'v2']);
    const userChanges = await entries('action=user.put');
    assert.deepEqual(userChanges.map((entry) => [entry.user, entry.target]), [['admin', 'carol']]);
    const failures = await entries('action=auth.failure&user=carol');
    assert.equal(failures.length, 1);
    assert.deepEqual(await entries(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`), []);
  });

  it('when the trail is exported, then every entry is a JSON line and no password appears in it', async () => {
    const response = await api('GET', '/api/v1/audit/export');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /application\/x-ndjson/);
    const text = await response.text();
    const lines = text.trim().split('\n').map((line) => JSON.parse(line) as Entry);
    assert.ok(lines.length >= 6);
    assert.ok(lines.every((line, index) => index === 0 || line.id > lines[index - 1]!.id));
    assert.ok(!text.includes(carolPassword) && !text.includes('wrong"'));
  });

  it('when a user who is not an administrator asks for the trail, then it is refused', async () => {
    assert.equal((await api('GET', '/api/v1/audit', undefined, basic('carol', carolPassword))).status, 403);
  });
});
