import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { OciClient } from '../support/oci-client.js';
import { startRegistry2, type RunningRegistry2 } from '../support/registry2.js';
import { CLI } from '../support/server.js';
import { AuthorizedClient, basic, htpasswdEntry, tokenFor } from './auth-support.js';

async function digestOfBody(response: Response): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

async function proxyOf(url: string, username: string, password: string): Promise<TestRegistry> {
  return startInProcess({ repositories: { items: [{ name: 'up', kind: 'proxy', upstream: { url, username, password } }] } });
}

/** Pulls `name:tag` through the proxy and checks manifest and layers digest by digest. */
async function pullThrough(client: OciClient, name: string, tag: string, expected: { digest: string; manifest: Record<string, unknown> }): Promise<void> {
  const response = await client.request(`/v2/up/${name}/manifests/${tag}`, { headers: { Authorization: basic('client', 'client-secret') } });
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(response.headers.get('docker-content-digest'), expected.digest);
  for (const layer of expected.manifest.layers as { digest: string }[]) {
    const blob = await client.request(`/v2/up/${name}/blobs/${layer.digest}`, { headers: { Authorization: basic('client', 'client-secret') } });
    assert.equal(blob.status, 200);
    assert.equal(await digestOfBody(blob), layer.digest);
  }
}

/** registry:2 2.8 has no monolithic `POST ?digest=`: start a session, then PUT the bytes. */
class TwoStepClient extends AuthorizedClient {
  override async pushBlob(name: string, content: Buffer | string): Promise<string> {
    const bytes = Buffer.from(content);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const location = await this.startUpload(name);
    const url = new URL(location, this.base);
    url.searchParams.set('digest', digest);
    const response = await this.request(url.pathname + url.search, { method: 'PUT', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(response.status, 201, await response.text());
    return digest;
  }
}

describe('proxy upstream authentication', () => {
  describe('a Berth upstream with its own token service (Bearer)', () => {
    let upstream: TestRegistry;
    let fault: FaultProxy;
    let registry: TestRegistry;
    let adminPassword: string;
    let image: { digest: string; manifest: Record<string, unknown> };

    before(async () => {
      upstream = await startInProcess({ auth: { token: { service: 'berth', issuer: 'upstream' } } });
      adminPassword = (await readFile(join(upstream.dataDir, 'storage', 'admin-password'), 'utf8')).trim();
      const pusher = new AuthorizedClient(upstream.url, `Bearer ${await tokenFor(upstream.url, ['repository:team/app:pull,push'], basic('admin', adminPassword))}`);
      image = await pusher.pushImage('team/app', 'v1', ['private-layer']);
      fault = await new FaultProxy(upstream.url).start();
      registry = await proxyOf(fault.url, 'admin', adminPassword);
    });
    after(async () => {
      await registry?.destroy();
      await fault?.stop();
      await upstream?.destroy();
    });

    it('when a private image is pulled through the proxy, then the token dance runs once per scope and the client\'s credentials never go upstream', async () => {
      await pullThrough(new OciClient(registry.url), 'team/app', 'v1', image);
      assert.equal(fault.count('GET', /^\/token\?/), 1, 'one token for the scope, cached');
      const tokenRequest = fault.requests.find((entry) => entry.path.startsWith('/token?'))!;
      assert.equal(tokenRequest.authorization, basic('admin', adminPassword), 'the upstream credentials go to its own realm');
      assert.match(decodeURIComponent(tokenRequest.path), /scope=repository:team\/app:pull/);
      const registryRequests = fault.requests.filter((entry) => entry.path.startsWith('/v2/'));
      assert.ok(registryRequests.some((entry) => entry.authorization?.startsWith('Bearer ')));
      assert.ok(!fault.requests.some((entry) => entry.authorization === basic('client', 'client-secret')));
    });
  });

  describe('CNCF Distribution with htpasswd (Basic)', () => {
    let dir: string;
    let distribution: RunningRegistry2;
    let fault: FaultProxy;
    let registry: TestRegistry;
    let image: { digest: string; manifest: Record<string, unknown> };

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'berth-proxy-distribution-'));
      await writeFile(join(dir, 'htpasswd'), `${htpasswdEntry('mirror', 'mirror-password', CLI)}\n`);
      distribution = await startRegistry2(join(dir, 'root'), dir, { auth: { htpasswd: { realm: 'test', path: join(dir, 'htpasswd') } } });
      const pusher = new TwoStepClient(`http://${distribution.host}`, basic('mirror', 'mirror-password'));
      image = await pusher.pushImage('team/tool', '1.0', ['tool-layer']);
      fault = await new FaultProxy(`http://${distribution.host}`).start();
      registry = await proxyOf(fault.url, 'mirror', 'mirror-password');
    });
    after(async () => {
      await registry?.destroy();
      await fault?.stop();
      await distribution?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('when an image is pulled through the proxy, then Basic credentials are sent after the first challenge and every pull matches', async () => {
      await pullThrough(new OciClient(registry.url), 'team/tool', '1.0', image);
      const unauthenticated = fault.requests.filter((entry) => entry.authorization === undefined);
      assert.equal(unauthenticated.length, 1, 'only the first request goes without credentials');
      assert.ok(fault.requests.slice(1).every((entry) => entry.authorization === basic('mirror', 'mirror-password')));
    });
  });
});
