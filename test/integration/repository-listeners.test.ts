import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { OciClient, errorCode } from '../support/oci-client.js';
import { AuthorizedClient, basic } from './auth-support.js';

/**
 * Repositories with a listener of their own (`addr`), served at its root, as Nexus's
 * per-repository connectors: the seeds push to the hosted repository's port and pull from the
 * group's. Access is decided on the repository's full names, whichever listener is used.
 */
describe('per-repository listeners', () => {
  let registry: TestRegistry;
  let admin: string;

  async function api(method: string, path: string, body: unknown): Promise<Response> {
    return fetch(new URL(path, registry.url), { method, headers: { Authorization: admin, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  }

  before(async () => {
    registry = await startInProcess({
      auth: { accounts: { realm: 'berth' } },
      repositories: {
        items: [
          { name: 'internal', kind: 'hosted', addr: '127.0.0.1:0' },
          { name: 'all', kind: 'group', members: ['internal'], writablemember: 'internal', addr: '127.0.0.1:0' },
        ],
      },
    });
    admin = basic('admin', (await readFile(join(registry.dataDir, 'storage', 'admin-password'), 'utf8')).trim());
    assert.equal((await api('PUT', '/api/v1/roles/group-users', { permissions: [{ pattern: 'all/*', actions: ['push'] }] })).status, 201);
    assert.equal((await api('PUT', '/api/v1/users/dev', { password: 'dev-password', roles: ['group-users'] })).status, 201);
  });
  after(() => registry.destroy());

  it('when an image is pushed at the group\'s listener root, then it pulls back there, at the hosted listener and under its full name on the main listener', async () => {
    const group = new AuthorizedClient(registry.repositories.all!, admin);
    const pushed = await group.pushImage('team/app', '1.0', ['listener-layer']);
    for (const [base, name] of [[registry.repositories.all!, 'team/app'], [registry.repositories.internal!, 'team/app'], [registry.url, 'internal/team/app'], [registry.url, 'all/team/app']] as const) {
      const response = await new AuthorizedClient(base, admin).request(`/v2/${name}/manifests/1.0`);
      assert.equal(response.status, 200, `${base} ${name}`);
      assert.equal(response.headers.get('docker-content-digest'), pushed.digest);
    }
    const catalog = (await (await group.request('/v2/_catalog')).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['team/app']);
  });

  it('when a user may push only to the group, then its listener takes the push and the hosted listener refuses it: rights follow the full name', async () => {
    const dev = basic('dev', 'dev-password');
    await new AuthorizedClient(registry.repositories.all!, dev).pushImage('dev/tool', 'v1', ['dev-layer']);
    const refused = await new AuthorizedClient(registry.repositories.internal!, dev).request('/v2/dev/tool/blobs/uploads/', { method: 'POST' });
    assert.equal(refused.status, 403);
    assert.equal(await errorCode(refused), 'DENIED');
    const anonymous = await new OciClient(registry.repositories.all!).request('/v2/dev/tool/manifests/v1');
    assert.equal(anonymous.status, 401);
  });
});
