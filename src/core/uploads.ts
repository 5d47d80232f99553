import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Digester, digestAlgorithm, type Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import type { RepositoryName } from '../oci/names.js';
import type { ByteRange } from '../oci/ranges.js';
import type { ChangeJournal, MetadataStore, QuotaExceeded, QuotaLimit, UploadSession } from '../metadata/store.js';
import type { BlobStore } from '../storage/blob-store.js';
import { layout } from '../storage/layout.js';
import { systemClock, type Clock } from './time.js';
import type { LockService } from './locks.js';

/**
 * Blob uploads: sessions that survive restarts, chunks appended as streams and hashed on
 * the way to disk, and a commit that verifies the digest before anything becomes visible.
 *
 * Invariant: the session's recorded offset counts only bytes that are written to the upload
 * file and hashed into the live digester. Bytes past it (a crash, an aborted chunk) are cut off
 * before the next write. Hash state cannot be serialised, so after a restart the digester is
 * rebuilt by reading the persisted bytes once.
 *
 * Durability is paid once, at the commit: chunks and session rows are not fsynced (they survive
 * a process kill; a power cut may lose an unfinished upload, which then reads as shorter than
 * its offset and is reported unknown, or fails the digest check, so the client starts over).
 * Before a blob becomes visible its bytes are fsynced, then renamed, then recorded.
 */
export interface UploadProgress {
  id: string;
  offset: number;
}

export interface CommittedBlob {
  digest: Digest;
  size: number;
}

interface LiveUpload {
  digester: Digester;
  /** Bytes the digester has seen; equals the recorded offset when consistent. */
  offset: number;
  /** The request writing to the session now, if any. */
  holder?: { signal?: AbortSignal; done: Promise<unknown> };
}

export interface WriteOptions {
  contentRange?: ByteRange;
  contentLength?: number;
  signal?: AbortSignal;
}

/** A repository quota to check when the blob is linked, and the error to raise when it is full. */
export interface QuotaCheck {
  limit: QuotaLimit;
  denied(exceeded: QuotaExceeded): RegistryError;
}

/** The journal rows (webhook event, audit) of a finished blob, once its size is known. */
export type BlobJournal = (digest: Digest, size: number) => ChangeJournal;

export class UploadService {
  private readonly live = new Map<string, LiveUpload>();

  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly locks: LockService,
    private readonly clock: Clock = systemClock,
  ) {}

  async start(repository: RepositoryName): Promise<UploadProgress> {
    const now = this.clock();
    const id = randomUUID();
    await this.metadata.createUpload({ id, repository, offset: 0, createdAt: now, updatedAt: now });
    this.live.set(id, { digester: new Digester(), offset: 0 });
    return { id, offset: 0 };
  }

  async status(repository: RepositoryName, id: string): Promise<UploadProgress> {
    const session = await this.session(repository, id);
    return { id, offset: session.offset };
  }

  /** PATCH: appends one chunk (or the rest of the stream) at the session's offset. */
  async append(repository: RepositoryName, id: string, body: Readable, options: WriteOptions): Promise<UploadProgress> {
    return this.exclusively(await this.session(repository, id), async (live, session) => {
      const offset = await this.write(session, live, body, options);
      return { id, offset };
    }, options.signal);
  }

  /** PUT: appends the final chunk if any, verifies the digest, and makes the blob visible. */
  async complete(repository: RepositoryName, id: string, expected: Digest, body: Readable | undefined, options: WriteOptions, quota?: QuotaCheck, journal?: BlobJournal): Promise<CommittedBlob> {
    return this.exclusively(await this.session(repository, id), async (live, session) => {
      // The final chunk is not recorded as an offset: the session ends here either way.
      const size = body ? await this.write(session, live, body, { ...options, commit: true }) : session.offset;
      if (!body) await this.syncUploadFile(id, session.offset);
      const actual = digestAlgorithm(expected) === live.digester.algorithm ? live.digester.digest() : await this.rehash(id, size, digestAlgorithm(expected));
      if (actual !== expected) {
        await this.discard(id);
        throw new RegistryError('DIGEST_INVALID', `digest mismatch: the uploaded content is ${actual}, not ${expected}; nothing was stored`, { expected, actual });
      }
      // Under the digest's lock: garbage collection cannot delete these bytes in between.
      const exceeded = await this.locks.run(expected, async () => {
        await this.blobs.adoptUpload(id, expected);
        return this.withdrawIfRefused(expected, await this.metadata.completeUpload(id, repository, expected, size, quota?.limit, journal?.(expected, size)));
      });
      if (exceeded) {
        await this.discard(id);
        throw quota!.denied(exceeded);
      }
      this.live.delete(id);
      return { digest: expected, size };
    }, options.signal);
  }

  /**
   * POST ?digest=: the whole blob in one request. It needs no session row: its data file
   * is swept by the purge if the process dies mid-way.
   */
  async monolithic(repository: RepositoryName, expected: Digest, body: Readable, options: WriteOptions, quota?: QuotaCheck, journal?: BlobJournal): Promise<CommittedBlob> {
    const id = randomUUID();
    const digester = new Digester(digestAlgorithm(expected));
    const key = layout.upload(id);
    try {
      const size = await this.blobs.driver.append(key, body, { offset: 0, onChunk: (chunk) => digester.update(chunk), sync: true, signal: options.signal });
      checkLength(size, options.contentLength);
      const actual = digester.digest();
      if (actual !== expected) {
        throw new RegistryError('DIGEST_INVALID', `digest mismatch: the uploaded content is ${actual}, not ${expected}; nothing was stored`, { expected, actual });
      }
      const exceeded = await this.locks.run(expected, async () => {
        await this.blobs.adoptUpload(id, expected);
        return this.withdrawIfRefused(expected, await this.metadata.linkBlob(repository, expected, size, quota?.limit, journal?.(expected, size)));
      });
      if (exceeded) throw quota!.denied(exceeded);
      return { digest: expected, size };
    } finally {
      await this.blobs.driver.delete(key);
    }
  }

  /** A refused link must not leave unrecorded bytes behind (the caller holds the digest's lock). */
  private async withdrawIfRefused(digest: Digest, exceeded: QuotaExceeded | undefined): Promise<QuotaExceeded | undefined> {
    if (exceeded && !(await this.metadata.blobRecorded(digest))) await this.blobs.delete(digest);
    return exceeded;
  }

  async cancel(repository: RepositoryName, id: string): Promise<void> {
    await this.session(repository, id);
    await this.discard(id);
  }

  /** Drops the data of sessions whose rows are already gone (a deleted repository's). */
  async forget(ids: string[]): Promise<void> {
    for (const id of ids) {
      this.live.delete(id);
      await this.blobs.driver.delete(layout.upload(id));
    }
  }

  /** Removes sessions idle since before `cutoff` and data files no session owns. */
  async purge(cutoff: number, dryRun: boolean): Promise<string[]> {
    const purged: string[] = [];
    for (const session of await this.metadata.listUploadsUpdatedBefore(cutoff)) {
      if (this.live.get(session.id)?.holder) continue;
      purged.push(session.id);
      if (!dryRun) await this.discard(session.id);
    }
    for await (const { key } of this.blobs.driver.list(layout.uploadsPrefix())) {
      const id = key.slice(key.lastIndexOf('/') + 1);
      if (this.live.has(id) || (await this.metadata.getUpload(id))) continue;
      const info = await this.blobs.driver.stat(key);
      if (info && info.modifiedAt.getTime() < cutoff) {
        purged.push(id);
        if (!dryRun) await this.blobs.driver.delete(key);
      }
    }
    return purged;
  }

  private async session(repository: RepositoryName, id: string): Promise<UploadSession> {
    const session = await this.metadata.getUpload(id);
    if (!session || session.repository !== repository) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is not known in repository ${repository}`);
    }
    return session;
  }

  /**
   * Runs `action` as the session's only writer. A session whose writer's request has died (its
   * client went away, or the idle timeout ended it) is waited for — it is only rolling back —
   * rather than refused: a client that reconnects at once must not be told it is still busy.
   */
  private async exclusively<T>(initial: UploadSession, action: (live: LiveUpload, session: UploadSession) => Promise<T>, signal?: AbortSignal): Promise<T> {
    let session = initial;
    let live = this.live.get(session.id);
    while (live?.holder) {
      if (!live.holder.signal?.aborted) {
        throw new RegistryError('RANGE_INVALID', `upload ${session.id} is already receiving data in another request`, { offset: session.offset });
      }
      await live.holder.done.catch(() => undefined);
      session = await this.session(session.repository, session.id);
      live = this.live.get(session.id);
    }
    if (!live) {
      live = { digester: new Digester(), offset: -1 };
      this.live.set(session.id, live);
    }
    const current = live;
    const done = (async () => {
      if (current.offset !== session.offset || current.digester.size !== session.offset) await this.rebuild(session, current);
      return action(current, session);
    })();
    current.holder = { signal, done };
    try {
      return await done;
    } finally {
      current.holder = undefined;
    }
  }

  /** After a restart or a failed chunk: cut stray bytes and re-read the rest into a fresh digester. */
  private async rebuild(session: UploadSession, live: LiveUpload): Promise<void> {
    const key = layout.upload(session.id);
    const stored = await this.blobs.driver.stat(key);
    if ((stored?.size ?? 0) < session.offset) {
      await this.discard(session.id);
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${session.id} lost its data; start a new upload`);
    }
    if (stored && stored.size > session.offset) await this.blobs.driver.truncate(key, session.offset);
    live.digester = new Digester();
    if (session.offset > 0) {
      const stream = await this.blobs.driver.read(key, { start: 0, end: session.offset - 1 });
      for await (const chunk of stream) live.digester.update(chunk as Buffer);
    }
    live.offset = session.offset;
  }

  /** With `commit`, the chunk completes the upload: its bytes are fsynced and no offset is recorded. */
  private async write(session: UploadSession, live: LiveUpload, body: Readable, options: WriteOptions & { commit?: boolean }): Promise<number> {
    const { contentRange } = options;
    if (contentRange && contentRange.start !== session.offset) {
      throw new RegistryError('RANGE_INVALID', `chunk starts at ${contentRange.start} but the upload holds ${session.offset} bytes; resume at ${session.offset}`, { offset: session.offset });
    }
    const key = layout.upload(session.id);
    try {
      const offset = await this.blobs.driver.append(key, body, {
        offset: session.offset,
        onChunk: (chunk) => live.digester.update(chunk),
        sync: options.commit,
        signal: options.signal,
      });
      const received = offset - session.offset;
      checkLength(received, options.contentLength);
      if (contentRange && received !== contentRange.end - contentRange.start + 1) {
        throw new RegistryError('SIZE_INVALID', `Content-Range announced ${contentRange.end - contentRange.start + 1} bytes but the body held ${received}`);
      }
      if (!options.commit) await this.metadata.recordUploadProgress(session.id, { offset, updatedAt: this.clock() });
      live.offset = offset;
      session.offset = offset;
      return offset;
    } catch (error) {
      // Roll back to the last acknowledged offset; the digester saw bytes that are now gone.
      await this.blobs.driver.truncate(key, session.offset);
      live.digester = new Digester();
      live.offset = -1;
      throw error;
    }
  }

  /** Makes the upload's bytes durable; an upload that never received a byte gets its empty file here. */
  private async syncUploadFile(id: string, offset: number): Promise<void> {
    const key = layout.upload(id);
    if (offset === 0 && !(await this.blobs.driver.stat(key))) return this.blobs.driver.writeAtomic(key, Buffer.alloc(0));
    await this.blobs.driver.sync(key);
  }

  private async rehash(id: string, size: number, algorithm: 'sha256' | 'sha512'): Promise<Digest> {
    const digester = new Digester(algorithm);
    if (size > 0) {
      for await (const chunk of await this.blobs.driver.read(layout.upload(id), { start: 0, end: size - 1 })) digester.update(chunk as Buffer);
    }
    return digester.digest();
  }

  private async discard(id: string): Promise<void> {
    this.live.delete(id);
    await this.metadata.deleteUpload(id);
    await this.blobs.driver.delete(layout.upload(id));
  }
}

function checkLength(received: number, contentLength: number | undefined): void {
  if (contentLength !== undefined && received !== contentLength) {
    throw new RegistryError('SIZE_INVALID', `Content-Length said ${contentLength} bytes but ${received} arrived`);
  }
}
