import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startServer, type RunningServer } from '../support/server.js';
import { MiB, Pattern, RssSampler, http, mib, pullBlobDigest, type MemoryReport } from './helpers.js';

/**
 * Streams stay streams: a 2 GiB blob goes through the real server (compiled CLI, child
 * process) in one request each way while its resident memory is sampled from /proc every
 * 50 ms. Buffering any sizeable part of the body would show up here.
 */

const GiB = 1024 * MiB;
const BLOB_SIZE = 2 * GiB;
const CEILING = 150 * MiB;
const TRANSFER_TIMEOUT = 120_000;

describe('streaming memory (2 GiB blobs)', { timeout: 300_000 }, () => {
  let server: RunningServer;
  const peaks: Record<string, MemoryReport> = {};

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.kill();
    await server?.cleanup();
  });

  /** Runs `phase` while sampling the server's RSS; records and checks the peak. */
  async function measured<T>(t: TestContext, label: string, phase: () => Promise<T>): Promise<T> {
    const reset = await RssSampler.resetPeak(server.pid);
    const before = await RssSampler.read(server.pid);
    const sampler = new RssSampler(server.pid, 50).start();
    const started = Date.now();
    let result: T;
    try {
      result = await phase();
    } finally {
      peaks[label] = await sampler.stop();
    }
    const report = peaks[label]!;
    t.diagnostic(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s, RSS before ${mib(before.rss)}, peak sampled RSS ${mib(report.peakRss)} (${report.samples} samples), VmHWM ${mib(report.hwm)}${reset ? ' (this phase)' : ' (process lifetime)'}`);
    assert.ok(report.samples >= 5, `${label}: RSS was sampled (${report.samples} samples)`);
    assert.ok(report.peakRss < CEILING, `${label}: server RSS peaked at ${mib(report.peakRss)}, over the ${mib(CEILING)} ceiling`);
    assert.ok(report.hwm < CEILING, `${label}: server VmHWM is ${mib(report.hwm)}, over the ${mib(CEILING)} ceiling`);
    return result;
  }

  /** A request body for the blob that hashes what it sends; `digest()` once it has been sent. */
  function hashedStream(pattern: Pattern): { stream: ReturnType<Pattern['stream']>; digest: () => string } {
    const hash = createHash('sha256');
    const stream = pattern.stream(0, pattern.size, { onChunk: (chunk) => hash.update(chunk) });
    let digest: string | undefined;
    return { stream, digest: () => (digest ??= `sha256:${hash.digest('hex')}`) };
  }

  async function pullAndCheck(t: TestContext, label: string, name: string, digest: string): Promise<void> {
    const pulled = await measured(t, label, () => pullBlobDigest(server.url, name, digest, TRANSFER_TIMEOUT));
    assert.equal(pulled.status, 200);
    assert.equal(pulled.headers['content-length'], String(BLOB_SIZE));
    assert.equal(pulled.size, BLOB_SIZE);
    assert.equal(pulled.digest, digest, 'the pulled blob hashes to its digest');
  }

  it('when a 2 GiB blob is pushed in a single PATCH and committed by PUT, then it pulls back intact and the server stays under 150 MiB RSS', { timeout: 150_000 }, async (t) => {
    const name = 'memory/chunked';
    const blob = hashedStream(new Pattern('memory/chunked', BLOB_SIZE));
    const digest = await measured(t, 'PATCH 2 GiB + PUT', async () => {
      const started = await http(server.url, 'POST', `/v2/${name}/blobs/uploads/`);
      assert.equal(started.status, 202);
      const patched = await http(server.url, 'PATCH', started.headers.location!, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': BLOB_SIZE, 'Content-Range': `0-${BLOB_SIZE - 1}` },
        body: blob.stream,
        timeoutMs: TRANSFER_TIMEOUT,
      });
      assert.equal(patched.status, 202, patched.body.toString());
      assert.equal(patched.headers.range, `0-${BLOB_SIZE - 1}`);
      const digest = blob.digest();
      const location = patched.headers.location!;
      const committed = await http(server.url, 'PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, { timeoutMs: TRANSFER_TIMEOUT });
      assert.equal(committed.status, 201, committed.body.toString());
      assert.equal(committed.headers['docker-content-digest'], digest);
      return digest;
    });
    await pullAndCheck(t, 'GET 2 GiB (chunked push)', name, digest);
  });

  it('when a 2 GiB blob is pushed monolithically with POST ?digest=, then it pulls back intact and the server stays under 150 MiB RSS', { timeout: 150_000 }, async (t) => {
    const name = 'memory/monolithic';
    const pattern = new Pattern('memory/monolithic', BLOB_SIZE);
    // The digest goes in the URL, so it is known before the body is sent: one pass to compute it.
    const digest = pattern.digest();
    const blob = hashedStream(pattern);
    await measured(t, 'POST ?digest= 2 GiB', async () => {
      const pushed = await http(server.url, 'POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': BLOB_SIZE },
        body: blob.stream,
        timeoutMs: TRANSFER_TIMEOUT,
      });
      assert.equal(pushed.status, 201, pushed.body.toString());
      assert.equal(pushed.headers['docker-content-digest'], digest);
    });
    assert.equal(blob.digest(), digest, 'the bytes sent hash to the digest announced');
    await pullAndCheck(t, 'GET 2 GiB (monolithic push)', name, digest);
    const overall = Math.max(...Object.values(peaks).map((report) => Math.max(report.hwm, report.peakRss)));
    t.diagnostic(`server peak over all phases ${mib(overall)}; by phase (sampled RSS / VmHWM): ${Object.entries(peaks).map(([label, report]) => `${label} ${mib(report.peakRss)} / ${mib(report.hwm)}`).join(', ')}`);
  });
});
