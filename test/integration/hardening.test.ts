import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type RunningServer } from '../support/server.js';

/**
 * Requests that once could stop the server or leave bytes behind (issue 9), against the real
 * CLI in a child process: a crash shows as an exited child, not as a failed assertion.
 */
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('hardening: abandoned and hostile requests', { timeout: 60_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      config: {
        log: { level: 'info' },
        // Short enough to end a stalled body quickly, long enough for a loaded machine's honest requests.
        http: { timeouts: { idle: '2s' }, maxconnectionsperclient: 6 },
        policies: [{ match: 'quota/*', quota: { limit: '1MiB' } }],
      },
    });
  });
  after(async () => {
    await server.stop();
    await server.cleanup();
  });

  async function assertServing(): Promise<void> {
    assert.equal(server.process.exitCode, null, `the server exited:\n${server.output()}`);
    const response = await fetch(`${server.url}/v2/`);
    assert.equal(response.status, 200);
  }

  it('when a chunked 5 MB manifest body is abandoned part-way, then the server keeps serving', async () => {
    const socket = await open(server.port);
    socket.write(`PUT /v2/x/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 0);
    for (let sent = 0; sent < 1024 * 1024; sent += chunk.length) socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`);
    await closed(socket, () => socket.destroy());
    await assertServing();
  });

  it('when a manifest is too large, then the client receives the 413 body, not a connection reset', async () => {
    const socket = await open(server.port);
    const response = collect(socket);
    socket.write(`PUT /v2/x/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    // Keep sending (as curl does) until the whole answer has arrived or the connection ends.
    const pump = () => {
      while (sent < 5_000_000 && !socket.destroyed) {
        sent += chunk.length;
        if (!socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`)) return void socket.once('drain', pump);
      }
      if (!socket.destroyed) socket.write('0\r\n\r\n');
    };
    pump();
    const text = await response.untilContains('MANIFEST_TOO_LARGE');
    assert.match(text, /^HTTP\/1\.1 413 /);
    socket.destroy();
    await assertServing();
  });

  it('when a PATCH announces 1000 bytes and sends 3, then the idle timeout ends it and the upload session is released', async () => {
    const start = await fetch(`${server.url}/v2/stall/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    const socket = await open(server.port);
    socket.write(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\nabc`);
    await closed(socket);

    const body = Buffer.from('hello');
    const patch = await fetch(`${server.url}${location}`, { method: 'PATCH', body, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(patch.status, 202, await patch.text());
    assert.equal(patch.headers.get('range'), '0-4');
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const put = await fetch(`${server.url}${patch.headers.get('location')}?digest=${digest}`, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
  });

  it('when a live request is writing to an upload, then a second writer is refused with RANGE_INVALID until the first one dies', async () => {
    const start = await fetch(`${server.url}/v2/busy/blobs/uploads/`, { method: 'POST' });
    const location = start.headers.get('location')!;
    const id = location.slice(location.lastIndexOf('/') + 1);
    const socket = await open(server.port);
    socket.write(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\nabc`);
    // The first writer holds the session once its bytes reach the upload file.
    await untilFileHolds(join(server.dataDir, 'storage', 'v1', 'uploads', id.slice(0, 2), id), 3);
    const second = await fetch(`${server.url}${location}`, { method: 'PATCH', body: 'def', headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(second.status, 416);
    assert.match(await second.text(), /RANGE_INVALID.*already receiving data/);
    await closed(socket, () => socket.destroy());
    // The server has seen the first writer die once it rolled the upload file back.
    await untilFileHolds(join(server.dataDir, 'storage', 'v1', 'uploads', id.slice(0, 2), id), 0);
    const third = await fetch(`${server.url}${location}`, { method: 'PATCH', body: 'ghi', headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(third.status, 202, await third.text());
    assert.equal(third.headers.get('range'), '0-2');
  });

  it('when a client opens more connections than its cap, then the extra ones are closed and the others keep working', async () => {
    const held = await Promise.all(Array.from({ length: 6 }, () => open(server.port)));
    const extra = await open(server.port);
    await closed(extra);
    held.pop()!.destroy();
    const response = await fetch(`${server.url}/v2/`);
    assert.equal(response.status, 200);
    for (const socket of held) socket.destroy();
  });

  it('when manifests referencing a missing blob are refused, then nothing is stored for them', async () => {
    const blobTree = join(server.dataDir, 'storage', 'v1', 'blobs');
    const sizeBefore = await treeSize(blobTree);
    for (let index = 0; index < 20; index += 1) {
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 },
        layers: [],
        annotations: { padding: `${index}`.padEnd(1_500_000, 'x') },
      }));
      const response = await fetch(`${server.url}/v2/quota/app/manifests/v${index}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
      assert.equal(response.status, 404, await response.text());
    }
    assert.equal(await treeSize(blobTree), sizeBefore);
  });
});

describe('hardening: one server per data directory', { timeout: 60_000 }, () => {
  it('when a second server starts on the same data directory, then it refuses with a clear message, and it may start once the first was killed', async () => {
    const first = await startServer();
    try {
      await assert.rejects(startServer({ dataDir: first.dataDir }), /another Berth process \(pid \d+\) is using the data directory/);
      await first.kill();
      const second = await startServer({ dataDir: first.dataDir });
      assert.equal((await fetch(`${second.url}/v2/`)).status, 200);
      await second.stop();
    } finally {
      await first.stop();
      await first.cleanup();
    }
  });
});

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves when the peer (or `action`) closes the socket. */
function closed(socket: Socket, action?: () => void): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    if (socket.destroyed) return resolve();
    socket.once('close', () => resolve());
    action?.();
  });
}

function collect(socket: Socket): { untilContains(text: string): Promise<string> } {
  let received = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (data: Buffer) => {
    received += data.toString('latin1');
    for (const wake of waiters.splice(0)) wake();
  });
  let failure: Error | undefined;
  socket.on('error', (error) => {
    failure = error;
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on('close', () => {
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    async untilContains(text) {
      while (!received.includes(text)) {
        if (failure) throw new Error(`connection failed (${failure.message}) after receiving: ${JSON.stringify(received.slice(0, 200))}`);
        if (socket.destroyed) throw new Error(`connection closed after receiving: ${JSON.stringify(received.slice(0, 200))}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      return received;
    },
  };
}

/** Waits (bounded) until another process's file holds `size` bytes: an observable state, not a timed sleep. */
async function untilFileHolds(path: string, size: number): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setImmediate(resolve))) {
    if ((await stat(path).catch(() => undefined))?.size === size) return;
  }
  throw new Error(`${path} never held ${size} bytes`);
}

async function treeSize(directory: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(directory, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  for (const entry of entries) if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  return total;
}
