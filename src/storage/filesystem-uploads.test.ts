import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../oci/digest.js';
import { FilesystemUploadStorage } from './filesystem-uploads.js';
import { layout } from './layout.js';
import { ChunkLengthError, UploadDataLostError } from './upload-storage.js';

async function text(stream: Readable): Promise<string> {
  let result = '';
  for await (const chunk of stream) result += (chunk as Buffer).toString();
  return result;
}

const digestOf = (content: string) => `sha256:${createHash('sha256').update(content).digest('hex')}` as Digest;

describe('FilesystemUploadStorage', () => {
  let root: string;
  let storage: FilesystemUploadStorage;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-fs-uploads-'));
    storage = new FilesystemUploadStorage(root);
  });
  after(() => rm(root, { recursive: true, force: true }));
  /** Bytes the session's file holds; undefined when there is none. */
  const held = (id: string) => stat(join(root, ...layout.upload(id).split('/'))).then((info) => info.size, () => undefined);

  it('when chunks are appended, then they concatenate, each chunk is observed, and the commit makes them the blob', async () => {
    const id = randomUUID();
    const seen: string[] = [];
    const first = await storage.append(id, undefined, Readable.from([Buffer.from('ab'), Buffer.from('cd')]), { offset: 0, onChunk: (c) => seen.push(c.toString()) });
    assert.equal(first.size, 4);
    const second = await storage.append(id, first.state, Readable.from([Buffer.from('ef')]), { offset: 4, final: true });
    assert.equal(second.size, 6);
    assert.deepEqual(seen, ['ab', 'cd']);
    assert.equal(await text(await storage.read(id, second.state, 6)), 'abcdef');
    await storage.commit(id, second.state, 6, digestOf('abcdef'));
    assert.equal(await readFile(join(root, ...layout.blob(digestOf('abcdef')).split('/')), 'utf8'), 'abcdef');
    assert.equal(await held(id), undefined);
  });

  it('when bytes lie past the acknowledged offset (a failed chunk), then the next append cuts them first', async () => {
    const id = randomUUID();
    await storage.append(id, undefined, Readable.from([Buffer.from('0123456789')]), { offset: 0 });
    const next = await storage.append(id, undefined, Readable.from([Buffer.from('xy')]), { offset: 3 });
    assert.equal(next.size, 5);
    assert.equal(await text(await storage.read(id, undefined, 5)), '012xy');
    assert.equal(await held(id), 5);
  });

  it('when the source fails mid-chunk, then the file is cut back to the offset and a retry at that offset works', async () => {
    const id = randomUUID();
    await storage.append(id, undefined, Readable.from([Buffer.from('keep')]), { offset: 0 });
    const failing = new Readable({ read() {} });
    // As an HTTP request body has: the server listens for its errors.
    failing.on('error', () => undefined);
    const appending = storage.append(id, undefined, failing, { offset: 4 });
    failing.push(Buffer.from('lost bytes'));
    setImmediate(() => failing.destroy(new Error('client went away')));
    await assert.rejects(appending, /client went away/);
    assert.equal(await held(id), 4);
    const retried = await storage.append(id, undefined, Readable.from([Buffer.from('!')]), { offset: 4 });
    assert.equal(await text(await storage.read(id, retried.state, retried.size)), 'keep!');
  });

  it('when a chunk ends short of the length its client announced, then the append fails and none of it is kept', async () => {
    const id = randomUUID();
    await storage.append(id, undefined, Readable.from([Buffer.from('kept')]), { offset: 0, length: 4 });
    await assert.rejects(storage.append(id, undefined, Readable.from([Buffer.from('abc')]), { offset: 4, length: 1000 }), ChunkLengthError);
    assert.equal(await held(id), 4);
  });

  it('when fewer bytes are held than were acknowledged, then append and commit report the data lost', async () => {
    const id = randomUUID();
    await storage.append(id, undefined, Readable.from([Buffer.from('short')]), { offset: 0 });
    await assert.rejects(storage.append(id, undefined, Readable.from([Buffer.from('x')]), { offset: 10 }), UploadDataLostError);
    await assert.rejects(storage.commit(id, undefined, 10, digestOf('short')), UploadDataLostError);
    await assert.rejects(storage.append(randomUUID(), undefined, Readable.from([]), { offset: 1 }), UploadDataLostError);
  });

  it('when the blob is already stored, then the commit keeps it and drops the upload; an empty upload commits', async () => {
    const id = randomUUID();
    await storage.append(id, undefined, Readable.from([Buffer.from('abcdef')]), { offset: 0 });
    await storage.commit(id, undefined, 6, digestOf('abcdef'));
    assert.equal(await held(id), undefined);
    const empty = randomUUID();
    await storage.commit(empty, undefined, 0, digestOf(''));
    assert.equal((await stat(join(root, ...layout.blob(digestOf('')).split('/')))).size, 0);
  });

  it('when uploads are listed, then each session appears once by id (spread over directories), and cancel removes it', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) await storage.append(id, undefined, Readable.from([Buffer.from(id)]), { offset: 0 });
    // A file that is no upload id (left by hand) is not listed.
    await writeFile(join(root, 'v1', 'uploads', 'stray'), 'x');
    const listed: string[] = [];
    for await (const { id, modifiedAt } of storage.list()) {
      listed.push(id);
      assert.ok(modifiedAt instanceof Date);
    }
    for (const id of ids) assert.equal(listed.filter((entry) => entry === id).length, 1);
    assert.ok(!listed.includes('stray'));
    await storage.cancel(ids[0]!, undefined);
    await storage.cancel(ids[0]!, undefined);
    assert.equal(await held(ids[0]!), undefined);
  });

  it('when a range of a growing upload is sent, then the bytes it holds so far are written and counted, the destination left open; once committed, sendRange says the bytes moved on', async () => {
    const id = randomUUID();
    await storage.append(id, undefined, Readable.from([Buffer.from('followed')]), { offset: 0 });
    const received: Buffer[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(Buffer.from(chunk));
        callback();
      },
    });
    assert.equal(await storage.sendRange(id, 2, 5, destination), 4);
    assert.equal(await storage.sendRange(id, 6, 20, destination), 2, 'only the bytes the upload holds');
    assert.equal(Buffer.concat(received).toString(), 'llowed');
    assert.equal(destination.writableEnded, false);
    await storage.commit(id, undefined, 8, digestOf('followed'));
    assert.equal(await storage.sendRange(id, 0, 1, destination), undefined);
  });

  it('when a session is prepared, then its directory exists before any byte arrives, preparing again is harmless, and its first append stores the bytes', async () => {
    const id = randomUUID();
    const directory = join(root, ...layout.upload(id).split('/').slice(0, -1));
    await rm(directory, { recursive: true, force: true });
    await storage.prepare(id);
    assert.ok((await stat(directory)).isDirectory());
    await storage.prepare(id);
    const appended = await storage.append(id, undefined, Readable.from([Buffer.from('prepared')]), { offset: 0, final: true });
    assert.equal(appended.size, 8);
    assert.equal(await held(id), 8);
  });
});
