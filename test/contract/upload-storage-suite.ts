import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../src/oci/digest.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { layout } from '../../src/storage/layout.js';
import { ChunkLengthError, type UploadStorage, type UploadStorageState } from '../../src/storage/upload-storage.js';

/**
 * The suite every UploadStorage passes, exported so each backend's test file runs it. A backend
 * is opened once per suite; `replica()` is another instance on the same bytes, as another
 * process would make it: every append below resumes on a fresh one from the persisted state.
 */
export interface UploadStorageBackend {
  replica(): UploadStorage;
  /** Where committed blobs are read back from. */
  blobs: StorageDriver;
  /** Whether `read` gives back any session's bytes (S3 cannot read parts before completion). */
  readsEverySession: boolean;
  dispose(): Promise<void>;
}

export interface UploadStorageFactory {
  name: string;
  open(): Promise<UploadStorageBackend>;
}

const MIB = 1024 * 1024;

export function uploadStorageSuite(factory: UploadStorageFactory): void {
  describe(`UploadStorage contract: ${factory.name}`, () => {
    let backend: UploadStorageBackend;
    before(async () => (backend = await factory.open()));
    after(() => backend.dispose());

    /** A session as the caller keeps it: the state and size it persisted last. */
    const session = () => ({ id: randomUUID(), state: undefined as UploadStorageState, size: 0, sent: [] as Buffer[] });

    async function append(upload: ReturnType<typeof session>, chunk: Buffer, pieces = 3): Promise<void> {
      const seen: Buffer[] = [];
      const result = await backend.replica().append(upload.id, upload.state, Readable.from(split(chunk, pieces)), { offset: upload.size, onChunk: (piece) => seen.push(Buffer.from(piece)) });
      assert.ok(Buffer.concat(seen).equals(chunk), 'onChunk sees every byte of the chunk, in order');
      assert.equal(result.size, upload.size + chunk.length);
      upload.state = result.state;
      upload.size = result.size;
      upload.sent.push(chunk);
    }

    async function blob(digest: Digest): Promise<Buffer> {
      const chunks: Buffer[] = [];
      for await (const chunk of await backend.blobs.read(layout.blob(digest))) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    }

    /** Commits what the session was sent; the blob must hold exactly that and the session nothing. */
    async function commitAndCheck(upload: ReturnType<typeof session>, leftBehind: string): Promise<void> {
      const content = Buffer.concat(upload.sent);
      const digest = digestOf(content);
      await backend.replica().commit(upload.id, upload.state, upload.size, digest);
      assert.ok((await blob(digest)).equals(content));
      assert.ok(!(await sessionIds()).includes(upload.id), leftBehind);
    }

    async function sessionIds(): Promise<string[]> {
      const ids: string[] = [];
      for await (const { id } of backend.replica().list()) ids.push(id);
      return ids;
    }

    it('when chunks of 1 B, 4 KiB, 4.9 MiB, 5 MiB and 12 MiB are appended on different replicas, then the commit holds them in order and the session is gone', async () => {
      const upload = session();
      for (const length of [1, 4096, Math.round(4.9 * MIB), 5 * MIB, 12 * MIB]) await append(upload, randomBytes(length));
      assert.ok((await sessionIds()).includes(upload.id), 'an unfinished session is listed');
      await commitAndCheck(upload, 'a committed session holds nothing');
    });

    it('when an append fails mid-chunk, then a retry at the same offset from the same state stores the right bytes', async () => {
      const upload = session();
      await append(upload, randomBytes(4 * MIB));
      const persisted = { state: upload.state, size: upload.size };
      // The client goes away after 7 MiB of an 8 MiB chunk: a whole part may have been sent.
      const failing = Readable.from((async function* () {
        yield randomBytes(4 * MIB);
        yield randomBytes(3 * MIB);
        throw new Error('client went away');
      })());
      await assert.rejects(backend.replica().append(upload.id, persisted.state, failing, { offset: persisted.size }), /client went away/);
      await append(upload, randomBytes(6 * MIB));
      // Two short appends after the last whole part: a tail of more than one write.
      await append(upload, randomBytes(3));
      await append(upload, randomBytes(2));
      await commitAndCheck(upload, 'nothing of the failed append is left behind');
    });

    it('when an append names an offset beyond the bytes held, then it is refused and the state still works', async () => {
      const upload = session();
      await append(upload, Buffer.from('abc'));
      await assert.rejects(backend.replica().append(upload.id, upload.state, Readable.from([Buffer.from('x')]), { offset: 5 }));
      await append(upload, Buffer.from('def'));
      assert.equal(await text(await backend.replica().read(upload.id, upload.state, upload.size)), 'abcdef');
      await backend.replica().cancel(upload.id, upload.state);
    });

    it('when a chunk ends short of the length its client announced, then the append fails and the state before it still works', async () => {
      const upload = session();
      await append(upload, Buffer.from('abc'));
      await assert.rejects(backend.replica().append(upload.id, upload.state, Readable.from([randomBytes(6 * MIB)]), { offset: upload.size, length: 7 * MIB }), ChunkLengthError);
      await append(upload, Buffer.from('def'));
      await commitAndCheck(upload, 'after a short chunk');
    });

    it('when the blob is already stored, then the commit keeps it and drops the session', async () => {
      const content = randomBytes(6 * MIB + 5);
      const digest = digestOf(content);
      await backend.blobs.writeAtomic(layout.blob(digest), content);
      const upload = session();
      await append(upload, content);
      await backend.replica().commit(upload.id, upload.state, upload.size, digest);
      assert.ok((await blob(digest)).equals(content));
      assert.ok(!(await sessionIds()).includes(upload.id));
    });

    it('when small (written in two appends) and empty sessions are committed, then their blobs hold exactly their bytes', async () => {
      const small = session();
      await append(small, Buffer.from('tiny '));
      await append(small, Buffer.from('layer'));
      await backend.replica().commit(small.id, small.state, small.size, digestOf(Buffer.from('tiny layer')));
      assert.equal((await blob(digestOf(Buffer.from('tiny layer')))).toString(), 'tiny layer');
      const empty = session();
      const emptyDigest = digestOf(Buffer.alloc(0));
      await backend.replica().commit(empty.id, empty.state, 0, emptyDigest);
      assert.equal((await blob(emptyDigest)).length, 0);
    });

    it('when a session is read, then the first size bytes come back (or, where parts cannot be read, the refusal says so)', async () => {
      const upload = session();
      await append(upload, Buffer.from('01234'));
      await append(upload, Buffer.from('56789'));
      assert.equal(await text(await backend.replica().read(upload.id, upload.state, 7)), '0123456');
      await append(upload, randomBytes(6 * MIB));
      const content = Buffer.concat(upload.sent);
      if (backend.readsEverySession) {
        assert.ok(Buffer.concat(await collect(await backend.replica().read(upload.id, upload.state, upload.size))).equals(content));
      } else {
        await assert.rejects(backend.replica().read(upload.id, upload.state, upload.size), /cannot be read/);
      }
      await backend.replica().cancel(upload.id, upload.state);
    });

    it('when a session is cancelled, then it is no longer listed, and cancelling again or an unknown session is no error', async () => {
      const upload = session();
      await append(upload, randomBytes(5 * MIB + 3));
      const listed = [];
      for await (const entry of backend.replica().list()) if (entry.id === upload.id) listed.push(entry);
      assert.equal(listed.length, 1);
      assert.ok(Math.abs(listed[0]!.modifiedAt.getTime() - Date.now()) < 10 * 60_000);
      await backend.replica().cancel(upload.id, upload.state);
      assert.ok(!(await sessionIds()).includes(upload.id));
      await backend.replica().cancel(upload.id, upload.state);
      await backend.replica().cancel(randomUUID(), undefined);
    });
  });
}

function digestOf(content: Buffer): Digest {
  return `sha256:${createHash('sha256').update(content).digest('hex')}` as Digest;
}

function split(chunk: Buffer, pieces: number): Buffer[] {
  const size = Math.max(1, Math.ceil(chunk.length / pieces));
  const parts: Buffer[] = [];
  for (let start = 0; start < chunk.length; start += size) parts.push(chunk.subarray(start, start + size));
  return parts;
}

async function collect(stream: Readable): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks;
}

async function text(stream: Readable): Promise<string> {
  return Buffer.concat(await collect(stream)).toString();
}
