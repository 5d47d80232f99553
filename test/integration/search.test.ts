import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { OciClient, sha256 } from '../support/oci-client.js';
import { AuthorizedClient, basic } from './auth-support.js';

const DESCRIPTION = 'org.opencontainers.image.description';

interface SearchBody {
  query: string;
  num_results: number;
  num_pages: number;
  page: number;
  page_size: number;
  results: { name: string; description: string; star_count: number; is_official: boolean; is_automated: boolean }[];
}

/** Pushes an image whose config carries labels (what a Dockerfile `LABEL` writes). */
async function pushLabelled(client: OciClient, name: string, tag: string, labels: Record<string, string>): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: labels }, rootfs: { type: 'layers', diff_ids: [] } }));
  const configDigest = await client.pushBlob(name, config);
  const layer = `layer of ${name}`;
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await client.pushBlob(name, layer), size: Buffer.byteLength(layer) }],
  }));
  assert.equal((await client.putManifest(name, tag, manifest, 'application/vnd.oci.image.manifest.v1+json')).status, 201);
  return sha256(manifest);
}

async function search(client: OciClient, query: string): Promise<SearchBody> {
  const response = await client.request(`/v1/search?${query}`);
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as SearchBody;
}

describe('docker search (/v1/search) on an open registry', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => {
    registry = await startInProcess();
    client = new OciClient(registry.url);
    await client.pushImage('tools/alpha', 'v1', ['t']);
    await client.pushImage('alphabet', 'v1', ['b'], { annotations: { [DESCRIPTION]: 'letters, annotated' } });
    await client.pushImage('alpha', 'v1', ['a']);
    await pushLabelled(client, 'gamma', 'v1', { [DESCRIPTION]: 'Alpha tooling, from a config label' });
    await client.pushImage('unrelated', 'v1', ['u']);
    await client.pushBlob('blobs-only-alpha', 'no manifest here');
  });
  after(() => registry.destroy());

  it('when the daemon pings /v1/_ping, then it answers 200 as a standalone registry', async () => {
    const response = await client.request('/v1/_ping');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-docker-registry-standalone'), 'true');
  });

  it('when searching a term, then the exact name comes first, then name prefixes, substrings and descriptions, with their descriptions', async () => {
    const body = await search(client, 'q=alpha&n=25');
    assert.deepEqual(body.results.map((result) => result.name), ['alpha', 'alphabet', 'tools/alpha', 'gamma']);
    assert.equal(body.results[1]!.description, 'letters, annotated');
    assert.equal(body.results[3]!.description, 'Alpha tooling, from a config label');
    assert.deepEqual({ ...body, results: undefined }, { query: 'alpha', num_results: 4, num_pages: 1, page: 1, page_size: 25, results: undefined });
    assert.deepEqual(body.results[0], { name: 'alpha', description: '', star_count: 0, is_official: false, is_automated: false });
  });

  it('when paging with n and page, then each page holds its share and the counts describe all matches', async () => {
    const second = await search(client, 'q=alpha&n=3&page=2');
    assert.deepEqual(second.results.map((result) => result.name), ['gamma']);
    assert.equal(second.num_results, 4);
    assert.equal(second.num_pages, 2);
    assert.equal((await search(client, 'q=alpha')).page_size, 25, 'n defaults to 25');
  });

  it('when n is outside 1 to 100, then the search is refused with PAGINATION_NUMBER_INVALID', async () => {
    for (const n of ['0', '101']) {
      const response = await client.request(`/v1/search?q=alpha&n=${n}`);
      assert.equal(response.status, 400, n);
      assert.equal(((await response.json()) as { errors: { code: string }[] }).errors[0]!.code, 'PAGINATION_NUMBER_INVALID');
    }
  });

  it('when a later tagged push carries another description, then search shows the newer one; an index takes its child\'s', async () => {
    await client.pushImage('described', 'v1', ['d1'], { annotations: { [DESCRIPTION]: 'first words' } });
    const { digest, body } = await client.pushImage('described', 'v2', ['d2'], { annotations: { [DESCRIPTION]: 'second words' } });
    assert.deepEqual((await search(client, 'q=described')).results.map((result) => result.description), ['second words']);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: body.length, platform: { os: 'linux', architecture: 'amd64' } }],
    });
    await client.pushImage('described', 'v3', ['d3']);
    assert.deepEqual((await search(client, 'q=described')).results.map((result) => result.description), ['']);
    assert.equal((await client.putManifest('described', 'multi', index, 'application/vnd.oci.image.index.v1+json')).status, 201);
    assert.deepEqual((await search(client, 'q=second')).results.map((result) => result.name), ['described']);
  });

  it('when the term holds SQL wildcards, then they match themselves only', async () => {
    assert.equal((await search(client, `q=${encodeURIComponent('%')}`)).num_results, 0);
    assert.equal((await search(client, 'q=_')).num_results, 0);
  });
});

describe('docker search with access control', () => {
  let registry: TestRegistry;
  let admin: string;
  before(async () => {
    registry = await startInProcess({ auth: { accounts: {} } });
    admin = basic('admin', (await readFile(join(registry.dataDir, 'storage', 'admin-password'), 'utf8')).trim());
    const pusher = new AuthorizedClient(registry.url, admin);
    for (const name of ['public/app', 'team/app', 'secret/app']) await pusher.pushImage(name, 'v1', [name]);
    const put = async (path: string, body: unknown) => {
      const response = await pusher.request(path, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      assert.ok(response.status < 300, `${path}: ${response.status} ${await response.text()}`);
    };
    await put('/api/v1/roles/anonymous', { permissions: [{ pattern: 'public/*', actions: ['pull'] }] });
    await put('/api/v1/roles/team', { permissions: [{ pattern: 'team/*', actions: ['pull'] }] });
    await put('/api/v1/users/dev', { password: 'dev-password-1', roles: ['team'] });
  });
  after(() => registry.destroy());

  it('when an anonymous client searches, then it gets 200 with what anonymous may pull, and no count of the rest', async () => {
    const body = await search(new OciClient(registry.url), 'q=app');
    assert.deepEqual(body.results.map((result) => result.name), ['public/app']);
    assert.equal(body.num_results, 1);
  });

  it('when a user searches with credentials, then it sees what it may pull; an administrator sees everything', async () => {
    assert.deepEqual((await search(new AuthorizedClient(registry.url, basic('dev', 'dev-password-1')), 'q=app')).results.map((result) => result.name), ['team/app']);
    assert.deepEqual((await search(new AuthorizedClient(registry.url, admin), 'q=app')).results.map((result) => result.name), ['public/app', 'secret/app', 'team/app']);
  });

  it('when the credentials are wrong, then the search is refused with 401 and a challenge', async () => {
    const response = await new AuthorizedClient(registry.url, basic('dev', 'wrong-password')).request('/v1/search?q=app');
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Basic /);
  });
});
