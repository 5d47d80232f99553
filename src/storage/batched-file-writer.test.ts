import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { BatchedFileWriter } from './batched-file-writer.js';

describe('BatchedFileWriter', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-batched-writer-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** Writes `chunks` through a writer starting at `start` of a file holding `prefix`; the file's bytes after. */
  async function written(name: string, prefix: Buffer, chunks: Buffer[], start: number, batchBytes: number): Promise<Buffer> {
    const path = join(root, name);
    await writeFile(path, prefix);
    const handle = await open(path, 'r+');
    try {
      await pipeline(Readable.from(chunks), new BatchedFileWriter(handle, start, batchBytes));
    } finally {
      await handle.close();
    }
    return readFile(path);
  }

  it('when chunks of uneven sizes cross many batches, then every byte lands at its position after the start', async () => {
    const chunks = Array.from({ length: 200 }, (_, index) => randomBytes(1 + ((index * 7919) % 5000)));
    const prefix = Buffer.from('kept-prefix');
    const bytes = await written('uneven', prefix, chunks, prefix.length, 16 * 1024);
    assert.deepEqual(bytes, Buffer.concat([prefix, ...chunks]));
  });

  it('when thousands of one-byte chunks arrive, then every byte is written in order', async () => {
    const chunks = Array.from({ length: 5000 }, (_, index) => Buffer.from([index % 256]));
    const bytes = await written('tiny', Buffer.alloc(0), chunks, 0, 1024 * 1024);
    assert.deepEqual(bytes, Buffer.concat(chunks));
  });

  it('when the source pauses mid-batch, then the bytes received so far reach the file without waiting for more', async () => {
    const path = join(root, 'paused');
    await writeFile(path, '');
    const handle = await open(path, 'r+');
    const writer = new BatchedFileWriter(handle, 0, 1024 * 1024, 5);
    try {
      writer.write(Buffer.from('abc'));
      // Bounded polling of an observable state: the file's size.
      for (const deadline = Date.now() + 5_000; (await stat(path)).size !== 3 && Date.now() < deadline; ) await new Promise((resolve) => setImmediate(resolve));
      assert.equal((await readFile(path)).toString(), 'abc');
      writer.end(Buffer.from('def'));
      await new Promise((resolve) => writer.once('finish', resolve));
      assert.equal((await readFile(path)).toString(), 'abcdef');
    } finally {
      await writer.settled();
      await handle.close();
    }
  });

  it('when the source fails, then the pipeline fails and no write is left running once settled', async () => {
    const path = join(root, 'failing');
    await writeFile(path, '');
    const handle = await open(path, 'r+');
    const writer = new BatchedFileWriter(handle, 0, 1024);
    async function* failing() {
      yield randomBytes(4096);
      throw new Error('upstream reset');
    }
    await assert.rejects(pipeline(Readable.from(failing()), writer), /upstream reset/);
    await writer.settled();
    await handle.truncate(0);
    await handle.close();
    assert.equal((await readFile(path)).length, 0);
  });
});
