import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { presignedBlobRedirects } from '../../src/core/blob-redirects.js';
import type { HealthMonitor } from '../../src/core/health.js';
import type { Registry } from '../../src/core/registry.js';
import { createRequestHandler } from '../../src/http/handler.js';
import type { Digest } from '../../src/oci/digest.js';
import { FilesystemDriver } from '../../src/storage/filesystem-driver.js';
import { layout } from '../../src/storage/layout.js';
import { createS3Storage, type S3Storage } from '../../src/storage/s3/index.js';
import { startCeph, type RunningCeph } from '../support/ceph.js';
import { s3Config } from '../support/s3-config.js';

const run = promisify(execFile);

/**
 * Blob GETs answered with a presigned redirect to Ceph RGW, through the real request handler.
 * The registry behind it is reduced to the one repository call the route makes before a
 * redirect (statBlob: the repository links the blob), counting the pulls served here.
 */
describe('blob GET redirects to presigned URLs on the object store', () => {
  let ceph: RunningCeph;
  let storage: S3Storage;
  let server: Server;
  let base: string;
  let servedHere = 0;
  let redirectsDisabled = false;
  const content = randomBytes(3 * 1024 * 1024 + 17);
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}` as Digest;
  const notStored = `sha256:${'e'.repeat(64)}` as Digest;

  before(async () => {
    ceph = await startCeph();
    storage = createS3Storage(s3Config(ceph, await ceph.createBucket()));
    await storage.driver.writeAtomic(layout.blob(digest), content);
    const handle = {
      statBlob: async (wanted: Digest) => ({ digest: wanted, size: wanted === digest ? content.length : 0 }),
      openBlob: async (wanted: Digest) => {
        servedHere += 1;
        return { digest: wanted, size: 0, body: { pipeTo: async (destination: NodeJS.WritableStream) => void destination.end() } };
      },
    };
    const registry = { resolve: () => ({ handle }) } as unknown as Registry;
    const health = { status: () => ({ healthy: true }) } as unknown as HealthMonitor;
    const redirects = presignedBlobRedirects(storage.driver, { disabled: false });
    assert.ok(redirects, 'the S3 driver presigns');
    const handler = createRequestHandler({ registry, health, log: pino({ level: 'silent' }), headers: {}, accessLog: false, blobRedirects: { locate: (blob) => (redirectsDisabled ? Promise.resolve(undefined) : redirects.locate(blob)) } });
    server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
    storage?.close();
    await ceph?.stop();
  });

  it('when a stored blob is fetched, then the answer is 307 to a URL that serves its bytes, with its digest header', async () => {
    const response = await fetch(`${base}/v2/team/app/blobs/${digest}`, { redirect: 'manual' });
    assert.equal(response.status, 307);
    assert.equal(response.headers.get('docker-content-digest'), digest);
    const location = response.headers.get('location')!;
    assert.match(location, new RegExp(`^${ceph.endpoint}/`));
    const followed = Buffer.from(await (await fetch(location)).arrayBuffer());
    assert.ok(followed.equals(content));
    // And by a client that follows redirects itself.
    const direct = Buffer.from(await (await fetch(`${base}/v2/team/app/blobs/${digest}`)).arrayBuffer());
    assert.ok(direct.equals(content));
  });

  it('when a ranged GET is redirected, then the object store honours the Range header (curl follows with it)', async () => {
    const { stdout } = await run('curl', ['-s', '-L', '-H', 'Range: bytes=100-199', '-w', '\n%{http_code}', `${base}/v2/team/app/blobs/${digest}`], { encoding: 'buffer', maxBuffer: 1024 * 1024 });
    const text = stdout as Buffer;
    const status = text.subarray(text.lastIndexOf('\n') + 1).toString();
    assert.equal(status, '206');
    assert.ok(text.subarray(0, text.lastIndexOf('\n')).equals(content.subarray(100, 200)));
    const suffix = await fetch((await fetch(`${base}/v2/team/app/blobs/${digest}`, { redirect: 'manual' })).headers.get('location')!, { headers: { Range: 'bytes=-5' } });
    assert.equal(suffix.status, 206);
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(content.subarray(-5)));
  });

  it('when a presigned URL is tampered with or expired, then the object store refuses it with 403', async () => {
    const location = new URL((await fetch(`${base}/v2/team/app/blobs/${digest}`, { redirect: 'manual' })).headers.get('location')!);
    const signature = location.searchParams.get('X-Amz-Signature')!;
    const tampered = new URL(location);
    tampered.searchParams.set('X-Amz-Signature', `${signature[0] === '0' ? '1' : '0'}${signature.slice(1)}`);
    assert.equal((await fetch(tampered)).status, 403);
    const otherKey = new URL(location);
    otherKey.pathname = otherKey.pathname.replace(/[0-9a-f]{64}$/, 'f'.repeat(64));
    assert.equal((await fetch(otherKey)).status, 403);
    const expired = await storage.driver.presignGet(layout.blob(digest), 1);
    const deadline = Date.now() + 10_000;
    let status = 200;
    while (status !== 403 && Date.now() < deadline) {
      status = (await fetch(expired)).status;
      if (status !== 403) await new Promise((resolve) => setTimeout(resolve, 250)); // poll until its second has passed
    }
    assert.equal(status, 403);
  });

  it('when the store does not hold the blob, or redirects are off, then it is served here; HEAD never redirects', async () => {
    const before = servedHere;
    assert.equal((await fetch(`${base}/v2/team/app/blobs/${notStored}`, { redirect: 'manual' })).status, 200);
    assert.equal(servedHere, before + 1);
    redirectsDisabled = true;
    try {
      assert.equal((await fetch(`${base}/v2/team/app/blobs/${digest}`, { redirect: 'manual' })).status, 200);
      assert.equal(servedHere, before + 2);
    } finally {
      redirectsDisabled = false;
    }
    const head = await fetch(`${base}/v2/team/app/blobs/${digest}`, { method: 'HEAD', redirect: 'manual' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(content.length));
  });

  it('when redirects are disabled in the configuration, or the driver cannot presign, then there is no redirect helper', () => {
    assert.equal(presignedBlobRedirects(storage.driver, { disabled: true }), undefined);
    assert.equal(presignedBlobRedirects(new FilesystemDriver('/nonexistent'), { disabled: false }), undefined);
  });
});
