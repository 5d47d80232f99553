import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../oci/digest.js';
import { BlobStore } from '../../storage/blob-store.js';
import { FilesystemDriver } from '../../storage/filesystem-driver.js';
import { FilesystemUploadStorage } from '../../storage/filesystem-uploads.js';
import { layout } from '../../storage/layout.js';
import { BlobFill } from './blob-fill.js';
import { RecentChunks } from './recent-chunks.js';

const MIB = 1024 * 1024;
const CHUNK = 64 * 1024;

/** The filesystem upload storage, counting the reads of bytes still being filled. */
class CountingSpool extends FilesystemUploadStorage {
  rangeReads = 0;

  override sendRange(...args: Parameters<FilesystemUploadStorage['sendRange']>) {
    this.rangeReads += 1;
    return super.sendRange(...args);
  }
}

/** A client that stops reading until `release` (its unsent bytes pile up), then reads everything. */
class HeldClient extends Writable {
  readonly received: Buffer[] = [];
  private held: (() => void)[] | undefined = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    // A copy: a storage driver may reuse its buffer once the write's callback has fired.
    this.received.push(Buffer.from(chunk));
    if (this.held) this.held.push(callback);
    else callback();
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const callback of held) callback();
  }
}

async function send(body: PassThrough, bytes: Buffer): Promise<void> {
  for (let offset = 0; offset < bytes.length; offset += CHUNK) {
    if (!body.write(bytes.subarray(offset, offset + CHUNK))) await once(body, 'drain');
  }
}

describe('BlobFill readers', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-blob-fill-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('when a reader stops reading while the fill moves past what memory keeps, then it catches up from the spool file with the exact bytes', async () => {
    const blob = randomBytes(48 * MIB);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}` as Digest;
    const spool = new CountingSpool(root);
    const blobs = new BlobStore(new FilesystemDriver(root));
    const body = new PassThrough();
    const fill = new BlobFill(digest, blob.length, randomUUID(), blobs, spool, body, async (_digest, _size, adopt) => {
      await adopt();
    }, 60_000);
    const client = new HeldClient();
    const reading = fill.reader(undefined).pipeTo(client);

    await send(body, blob.subarray(0, 40 * MIB));
    const heldBack = client.received.reduce((total, chunk) => total + chunk.length, 0);
    assert.ok(heldBack < 8 * MIB, `a reader that does not read is not handed everything (${heldBack} bytes)`);
    client.release();
    await send(body, blob.subarray(40 * MIB));
    body.end();
    await reading;
    await fill.finished;

    assert.ok(Buffer.concat(client.received).equals(blob), 'the reader got the blob byte for byte');
    assert.ok(spool.rangeReads >= 1, 'the bytes memory no longer held came from the spool file');
    assert.equal((await blobs.driver.stat(layout.blob(digest)))?.size, blob.length, 'and the blob is stored');
  });

  it('when the upstream sends a byte more than it announced, then the fill fails its reader and commits nothing', async () => {
    const blob = randomBytes(3 * CHUNK);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}` as Digest;
    const body = new PassThrough();
    let committed = false;
    const fill = new BlobFill(digest, blob.length - 1, randomUUID(), new BlobStore(new FilesystemDriver(root)), new FilesystemUploadStorage(root), body, async () => {
      committed = true;
    }, 60_000);
    const client = new HeldClient();
    client.release();
    const reading = fill.reader(undefined).pipeTo(client);
    await send(body, blob);
    body.end();
    await assert.rejects(reading);
    await assert.rejects(fill.finished);
    assert.equal(committed, false);
    assert.ok(Buffer.concat(client.received).length < blob.length - 1, 'the last announced byte was never sent');
  });
});

describe('RecentChunks', () => {
  it('when more than its capacity arrives, then the oldest chunks go and slices are views of what is held', () => {
    const recent = new RecentChunks(4);
    for (const text of ['ab', 'cd', 'ef']) recent.push(Buffer.from(text));
    assert.equal(recent.start, 2);
    assert.equal(recent.end, 6);
    assert.equal(Buffer.concat(recent.slice(3, 6)).toString(), 'def');
    assert.equal(Buffer.concat(recent.slice(2, 3)).toString(), 'c');
    recent.push(Buffer.from('ghijkl'));
    assert.equal(recent.start, 6, 'a chunk larger than the capacity stays alone');
    recent.clear();
    assert.equal(recent.start, 12);
    assert.deepEqual(recent.slice(12, 12), []);
  });
});
