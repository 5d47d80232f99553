import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { OciClient } from '../support/oci-client.js';
import { ManualClock } from '../support/time.js';
import { AuthorizedClient, basic } from './auth-support.js';

interface ErrorBody {
  error: { code: string; message: string };
}

describe('the admin API surface (/api/v1) with accounts', () => {
  let registry: TestRegistry;
  let admin: AuthorizedClient;
  let dev: AuthorizedClient;
  const clock = new ManualClock();
  const call = (client: OciClient, method: string, path: string, body?: unknown) =>
    client.request(path, { method, ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }) });

  before(async () => {
    registry = await startInProcess({ auth: { accounts: {} } }, undefined, { clock: clock.now });
    admin = new AuthorizedClient(registry.url, basic('admin', (await readFile(join(registry.dataDir, 'storage', 'admin-password'), 'utf8')).trim()));
    // Pushed a minute apart, of different sizes: every sort key orders them differently from the names.
    await admin.pushImage('team/big', 'v1', ['x'.repeat(5000)]);
    clock.advance(60_000);
    await admin.pushImage('team/small', 'v1', ['s']);
    await admin.pushImage('team/small', 'v2', ['s', 't']);
    clock.advance(60_000);
    await admin.pushImage('other/mid', 'v1', ['m'.repeat(2500)]);
    assert.equal((await call(admin, 'PUT', '/api/v1/roles/team', { permissions: [{ pattern: 'team/*', actions: ['pull', 'push'] }] })).status, 201);
    assert.equal((await call(admin, 'PUT', '/api/v1/users/dev', { password: 'dev-password', roles: ['team'] })).status, 201);
    dev = new AuthorizedClient(registry.url, basic('dev', 'dev-password'));
  });
  after(() => registry.destroy());

  const names = async (client: OciClient, query: string) => {
    const response = await client.request(`/api/v1/repositories?${query}`);
    assert.equal(response.status, 200, await response.clone().text());
    const body = (await response.json()) as { total: number; repositories: { name: string; kind: string }[] };
    return { total: body.total, names: body.repositories.map((repository) => repository.name), kinds: body.repositories.map((repository) => repository.kind) };
  };

  it('when repositories are listed, then they sort by name, push time and size, page server-side, and filter by name', async () => {
    assert.deepEqual((await names(admin, '')).names, ['other/mid', 'team/big', 'team/small']);
    assert.deepEqual((await names(admin, 'sort=pushed&order=desc')).names, ['other/mid', 'team/small', 'team/big']);
    assert.deepEqual((await names(admin, 'sort=size&order=desc')).names, ['team/big', 'other/mid', 'team/small']);
    assert.deepEqual(await names(admin, 'sort=name&offset=1&limit=1'), { total: 3, names: ['team/big'], kinds: ['hosted'] });
    assert.deepEqual((await names(admin, 'q=small')).names, ['team/small']);
    const sized = (await (await admin.request('/api/v1/repositories?sort=name')).json()) as { repositories: { name: string; bytes: number }[] };
    const bySize = (await (await admin.request('/api/v1/repositories?sort=size')).json()) as { repositories: { name: string; bytes: number }[] };
    assert.ok(sized.repositories.every((repository) => repository.bytes > 0), 'sizes are filled in for the page');
    assert.deepEqual(new Map(sized.repositories.map((r) => [r.name, r.bytes])), new Map(bySize.repositories.map((r) => [r.name, r.bytes])), 'the same sizes either way');
  });

  it('when a user lists repositories, then only those it may pull appear, and the total counts only them', async () => {
    assert.deepEqual(await names(dev, ''), { total: 2, names: ['team/big', 'team/small'], kinds: ['hosted', 'hosted'] });
    assert.deepEqual(await names(new OciClient(registry.url), ''), { total: 0, names: [], kinds: [] });
  });

  it('when a repository\'s tags are listed, then each carries digest, media type, size and push time; sorting and filtering work', async () => {
    const response = await dev.request('/api/v1/repositories/team/small/tags?sort=size&order=desc');
    assert.equal(response.status, 200);
    const body = (await response.json()) as { repository: string; total: number; tags: { tag: string; digest: string; mediaType: string; bytes: number; updatedAt: number }[] };
    assert.equal(body.repository, 'team/small');
    assert.deepEqual(body.tags.map((tag) => tag.tag), ['v2', 'v1']);
    assert.ok(body.tags[0]!.bytes > body.tags[1]!.bytes);
    assert.match(body.tags[0]!.digest, /^sha256:/);
    assert.equal(body.tags[0]!.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual((body.tags[0] as unknown as { platforms: string[] }).platforms, ['linux/amd64'], 'from the image config, recorded at push');
    const filtered = (await (await dev.request('/api/v1/repositories/team/small/tags?q=v1')).json()) as { tags: { tag: string }[] };
    assert.deepEqual(filtered.tags.map((tag) => tag.tag), ['v1']);
    assert.equal((await dev.request('/api/v1/repositories/other/mid/tags')).status, 403);
    assert.equal((await admin.request('/api/v1/repositories/nothing/here/tags')).status, 404);
  });

  it('when an index is pushed, then its tag lists its children\'s platforms, without attestation entries', async () => {
    const arm = await admin.pushImage('team/multi', 'arm-only', ['arm layer']);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.digest, size: arm.body.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.digest, size: arm.body.length, platform: { os: 'unknown', architecture: 'unknown' } },
      ],
    });
    assert.equal((await admin.putManifest('team/multi', 'multi', index, 'application/vnd.oci.image.index.v1+json')).status, 201);
    const body = (await (await admin.request('/api/v1/repositories/team/multi/tags?q=multi')).json()) as { tags: { tag: string; platforms: string[] }[] };
    assert.deepEqual(body.tags.map((tag) => [tag.tag, tag.platforms]), [['multi', ['linux/arm64/v8']]]);
  });

  it('when a repository is deleted, then it needs delete on it; with it, the repository is gone from /v2', async () => {
    const refused = await call(dev, 'DELETE', '/api/v1/repositories/team/big');
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as ErrorBody).error.code, 'DENIED');
    const deleted = await call(admin, 'DELETE', '/api/v1/repositories/team/big');
    assert.equal(deleted.status, 200);
    assert.deepEqual(await deleted.json(), { repository: 'team/big', uploadsCancelled: 0 });
    assert.equal((await admin.request('/v2/team/big/tags/list')).status, 404);
    assert.equal(((await (await call(admin, 'DELETE', '/api/v1/repositories/team/big')).json()) as ErrorBody).error.code, 'NOT_FOUND');
  });

  it('when a body breaks its schema, then INVALID_REQUEST names the problem; unknown keys are refused too', async () => {
    for (const body of [{ password: 42 }, { password: 'long-enough-1', role: ['admin'] }, { roles: 'admin', password: 'long-enough-1' }]) {
      const response = await call(admin, 'PUT', '/api/v1/users/frank', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(((await response.json()) as ErrorBody).error.code, 'INVALID_REQUEST');
    }
    const badAction = await call(admin, 'PUT', '/api/v1/roles/r', { permissions: [{ pattern: 'a/*', actions: ['fly'] }] });
    assert.match(((await badAction.json()) as ErrorBody).error.message, /permissions\.0\.actions\.0/);
    const bigBody = await admin.request('/api/v1/users/frank', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ password: 'x'.repeat(70_000) }) });
    assert.equal(bigBody.status, 413);
  });

  it('when anyone but an administrator asks for administration, then 401 for nobody and 403 for a user', async () => {
    const anonymous = await new OciClient(registry.url).request('/api/v1/gc', { method: 'POST' });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm="berth admin"/);
    for (const [method, path] of [['POST', '/api/v1/gc'], ['GET', '/api/v1/gc/last'], ['GET', '/api/v1/usage'], ['GET', '/api/v1/users'], ['POST', '/api/v1/retention']] as const) {
      assert.equal((await call(dev, method, path)).status, 403, `${method} ${path}`);
    }
    assert.equal(((await (await dev.request('/api/v1/whoami')).json()) as { administrator: boolean }).administrator, false);
    assert.equal((await admin.request('/api/v1/gc/last')).status, 404, 'no collection yet');
  });
});
