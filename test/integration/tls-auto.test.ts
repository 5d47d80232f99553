import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ensureAutoTls, fingerprint } from '../../src/tls/auto-tls.js';
import { startInProcess, type TestRegistry } from '../support/in-process.js';

const run = promisify(execFile);

/** A GET that trusts only `ca` (no system CAs, no verification switched off). */
function getTrusting(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('http.tls.auto', () => {
  let registry: TestRegistry;
  let tlsDir: string;
  let ca: Buffer;

  before(async () => {
    registry = await startInProcess({ http: { tls: { auto: true } } });
    tlsDir = join(registry.dataDir, 'storage', 'tls');
    ca = await readFile(join(tlsDir, 'ca.crt'));
  });
  after(() => registry.destroy());

  it('when Berth starts with tls.auto, then it serves HTTPS that a client trusting only its CA accepts, with key files 0600', async () => {
    assert.match(registry.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await getTrusting(`${registry.url}/v2/`, ca)).status, 200);
    for (const key of ['ca.key', 'server.key']) assert.equal((await stat(join(tlsDir, key))).mode & 0o777, 0o600, key);
    const server = new X509Certificate(await readFile(join(tlsDir, 'server.crt')));
    assert.ok(server.checkIssued(new X509Certificate(ca)));
    assert.ok(server.checkIP('127.0.0.1') && server.checkHost('localhost'));
  });

  it('when a client asks the well-known URLs, then it gets the CA and the steps for docker, podman and containerd', async () => {
    assert.equal((await getTrusting(`${registry.url}/berth/ca.crt`, ca)).body, ca.toString());
    const hostPort = new URL(registry.url).host;
    const steps = (await getTrusting(`${registry.url}/berth/tls`, ca)).body;
    assert.ok(steps.includes(`/etc/docker/certs.d/${hostPort}/ca.crt`));
    assert.ok(steps.includes(`/etc/containers/certs.d/${hostPort}/ca.crt`));
    assert.ok(steps.includes(`/etc/containerd/certs.d/${hostPort}/hosts.toml`));
  });

  it('when skopeo is given the CA as docker and podman would install it, then it inspects an image with TLS verification on', async () => {
    const certs = join(registry.dataDir, 'certs.d', new URL(registry.url).host);
    await mkdir(certs, { recursive: true });
    await copyFile(join(tlsDir, 'ca.crt'), join(certs, 'ca.crt'));
    const host = new URL(registry.url).host;
    // Push a tiny image with our own client, then inspect it through skopeo trusting the CA.
    const config = Buffer.from('{}');
    const { createHash } = await import('node:crypto');
    const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    const post = await fetchTrusting(`${registry.url}/v2/tls/app/blobs/uploads/?digest=${digest}`, ca, 'POST', config);
    assert.equal(post, 201);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, layers: [] }));
    assert.equal(await fetchTrusting(`${registry.url}/v2/tls/app/manifests/v1`, ca, 'PUT', manifest, 'application/vnd.oci.image.manifest.v1+json'), 201);
    const { stdout } = await run('skopeo', ['inspect', '--raw', '--cert-dir', certs, `docker://${host}/tls/app:v1`]);
    assert.equal(JSON.parse(stdout).config.digest, digest);
  });

  it('when Berth restarts, then it keeps its CA; when the certificate nears expiry, then only the server certificate is renewed', async () => {
    const before = fingerprint(new X509Certificate(ca));
    await registry.close();
    registry = await startInProcess({ http: { tls: { auto: true } } }, registry.dataDir);
    assert.equal(fingerprint(new X509Certificate(await readFile(join(tlsDir, 'ca.crt')))), before);
    const names = new X509Certificate(await readFile(join(tlsDir, 'server.crt'))).subjectAltName!.split(', ').map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
      .map((entry) => (entry === '0:0:0:0:0:0:0:1' ? '::1' : entry));
    const now = ensureAutoTls({ directory: tlsDir, names });
    assert.deepEqual([now.caCreated, now.serverIssued], [false, false]);
    const later = ensureAutoTls({ directory: tlsDir, names }, new Date(Date.now() + 380 * 86_400_000));
    assert.deepEqual([later.caCreated, later.serverIssued, later.caFingerprint], [false, true, before]);
  });
});

function fetchTrusting(url: string, ca: Buffer, method: string, body: Buffer, contentType = 'application/octet-stream'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, method, headers: { 'Content-Type': contentType, 'Content-Length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}
