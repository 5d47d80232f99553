import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Digester, digestAlgorithm, type Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import type { RepositoryName } from '../oci/names.js';
import type { ByteRange } from '../oci/ranges.js';
import type { ChangeJournal, MetadataStore, QuotaExceeded, QuotaLimit, UploadSession } from '../metadata/store.js';
import type { BlobStore } from '../storage/blob-store.js';
import { ChunkLengthError, UploadDataLostError, type UploadStorage } from '../storage/upload-storage.js';
import { systemClock, type Clock } from './time.js';
import type { LockService } from './locks.js';
import { nativeSessionDigests, type SessionDigest, type SessionDigests } from './resumable-digest.js';

/**
 * Blob uploads: sessions that survive restarts and move between replicas, chunks appended as
 * streams and hashed on the way to storage, and a commit that verifies the digest before
 * anything becomes visible.
 *
 * Invariant: the session row's offset counts only bytes the upload storage holds and the
 * digest state saved with it (or this process's live digest) has seen. Bytes past it (a crash,
 * an aborted chunk) never count: the storage cuts or ignores them on the next append. A process
 * that did not see the previous chunk — after a restart, or on another replica — restores the
 * saved digest state, or, where the digest kind cannot be saved, re-reads the upload once.
 * A session has one writer at a time across every replica (its lock, `upload:<id>`).
 *
 * Durability is paid once, at the commit: chunks and session rows need not reach the disk
 * (they survive a process kill; a power cut may lose an unfinished upload, which then reads as
 * shorter than its offset and is reported unknown, so the client starts over). Before a blob
 * becomes visible its bytes are durable at its content address, then recorded.
 *
 * Where sessions stay in this process (no replicas), a new session is recorded only when its
 * first chunk arrives: the usual small push — POST, then PUT with the whole blob — writes no
 * session row at all. A restart forgets sessions that never received a byte (nothing was
 * acknowledged for them; the client is told the upload is unknown and starts over).
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
  digest: SessionDigest;
  /** Bytes the digest has seen; equals the recorded offset when consistent (-1: rebuild). */
  offset: number;
  /** The request writing to the session now, if any. */
  holder?: { signal?: AbortSignal; done: Promise<unknown> };
  /** A session started here that holds no byte yet and has no row (see the class comment). */
  unrecorded?: UploadSession;
}

/** Whether a session's next request always reaches this process, or may reach any replica. */
export type SessionPlacement = 'this-process' | 'any-replica';

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
    private readonly storage: UploadStorage,
    private readonly locks: LockService,
    private readonly digests: SessionDigests = nativeSessionDigests,
    private readonly clock: Clock = systemClock,
    private readonly placement: SessionPlacement = 'any-replica',
  ) {}

  async start(repository: RepositoryName): Promise<UploadProgress> {
    const now = this.clock();
    const session: UploadSession = { id: randomUUID(), repository, offset: 0, createdAt: now, updatedAt: now };
    if (this.placement === 'this-process') {
      this.live.set(session.id, { digest: await this.digests.create(), offset: 0, unrecorded: session });
    } else {
      await this.metadata.createUpload(session);
      // The native digest lives in memory between chunks; a saveable one starts from the row.
      if (this.digests.kind === 'native') this.live.set(session.id, { digest: await this.digests.create(), offset: 0 });
    }
    return { id: session.id, offset: 0 };
  }

  /** Sessions started and not finished: recorded ones, and those still only in memory. */
  async inProgress(): Promise<number> {
    const recorded = (await this.metadata.listUploadsUpdatedBefore(Number.MAX_SAFE_INTEGER)).length;
    return recorded + [...this.live.values()].filter((live) => live.unrecorded).length;
  }

  async status(repository: RepositoryName, id: string): Promise<UploadProgress> {
    const session = await this.session(repository, id);
    return { id, offset: session.offset };
  }

  /** PATCH: appends one chunk (or the rest of the stream) at the session's offset. */
  async append(repository: RepositoryName, id: string, body: Readable, options: WriteOptions): Promise<UploadProgress> {
    return this.exclusively(await this.session(repository, id), async (live, session) => {
      await this.record(live);
      const offset = await this.write(session, live, body, options);
      return { id, offset };
    }, options.signal);
  }

  /** PUT: appends the final chunk if any, verifies the digest, and makes the blob visible. */
  async complete(repository: RepositoryName, id: string, expected: Digest, body: Readable | undefined, options: WriteOptions, quota?: QuotaCheck, journal?: BlobJournal): Promise<CommittedBlob> {
    return this.exclusively(await this.session(repository, id), async (live, session) => {
      // The final chunk is not recorded as an offset: the session ends here either way.
      const size = body ? await this.write(session, live, body, { ...options, final: true }) : session.offset;
      const actual = digestAlgorithm(expected) === 'sha256' ? live.digest.digest() : await this.rehash(session, size, digestAlgorithm(expected));
      if (actual !== expected) {
        await this.discard(session);
        throw new RegistryError('DIGEST_INVALID', `digest mismatch: the uploaded content is ${actual}, not ${expected}; nothing was stored`, { expected, actual });
      }
      // Under the digest's lock: garbage collection cannot delete these bytes in between.
      let inline = false;
      const exceeded = await this.locks.runShared(expected, async () => {
        const content = await this.blobs.placeUpload(this.storage, id, session.storageState, size, expected);
        inline = content !== undefined;
        return this.metadata.completeUpload(id, repository, expected, size, quota?.limit, journal?.(expected, size), content);
      });
      if (exceeded) {
        await this.withdraw(expected);
        await this.discard(session);
        throw quota!.denied(exceeded);
      }
      this.live.delete(id);
      // Its bytes are in its row now: the session's data is not needed (a failure leaves it to the purge).
      if (inline) await this.storage.cancel(id, session.storageState).catch(() => undefined);
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
    let state: string | undefined;
    let committed = false;
    try {
      const appended = await this.storage
        .append(id, undefined, body, { offset: 0, onChunk: (chunk) => digester.update(chunk), final: this.durableFinal(0, options.contentLength), signal: options.signal, length: options.contentLength })
        .catch((error: unknown) => Promise.reject(error instanceof ChunkLengthError ? lengthError(error) : error));
      state = appended.state;
      const size = appended.size;
      const actual = digester.digest();
      if (actual !== expected) {
        throw new RegistryError('DIGEST_INVALID', `digest mismatch: the uploaded content is ${actual}, not ${expected}; nothing was stored`, { expected, actual });
      }
      const exceeded = await this.locks.runShared(expected, async () => {
        const content = await this.blobs.placeUpload(this.storage, id, state, size, expected);
        // A blob in its row leaves the data file for the `finally` to delete.
        committed = content === undefined;
        return this.metadata.linkBlob(repository, expected, size, quota?.limit, journal?.(expected, size), content);
      });
      if (exceeded) {
        await this.withdraw(expected);
        throw quota!.denied(exceeded);
      }
      return { digest: expected, size };
    } finally {
      if (!committed) await this.storage.cancel(id, state);
    }
  }

  /** A chunk is about to be taken: the session's row must exist before its offset can be recorded. */
  private async record(live: LiveUpload): Promise<void> {
    if (!live.unrecorded) return;
    await this.metadata.createUpload(live.unrecorded);
    live.unrecorded = undefined;
  }

  /**
   * A refused link must not leave unrecorded bytes behind. Alone on the digest: a push beside
   * it that records the same bytes has then either finished (and they stay) or not begun.
   */
  private withdraw(digest: Digest): Promise<void> {
    return this.locks.run(digest, async () => {
      if (!(await this.metadata.blobRecorded(digest))) await this.blobs.delete(digest);
    });
  }

  async cancel(repository: RepositoryName, id: string): Promise<void> {
    await this.discard(await this.session(repository, id));
  }

  /** Drops the sessions of a deleted repository: the data of those whose rows are gone, and those never recorded. */
  async forget(repository: RepositoryName, ids: string[]): Promise<void> {
    for (const [id, live] of this.live) if (live.unrecorded?.repository === repository && !live.holder) this.live.delete(id);
    for (const id of ids) {
      this.live.delete(id);
      await this.storage.cancel(id, undefined);
    }
  }

  /** Removes sessions idle since before `cutoff` and data files no session owns. */
  async purge(cutoff: number, dryRun: boolean): Promise<string[]> {
    const purged: string[] = [];
    for (const session of await this.metadata.listUploadsUpdatedBefore(cutoff)) {
      if (this.live.get(session.id)?.holder) continue;
      purged.push(session.id);
      if (!dryRun) await this.discard(session);
    }
    for (const [id, live] of this.live) {
      if (!live.unrecorded || live.holder || live.unrecorded.updatedAt >= cutoff) continue;
      purged.push(id);
      if (!dryRun) this.live.delete(id);
    }
    for await (const { id, modifiedAt } of this.storage.list()) {
      if (this.live.has(id) || modifiedAt.getTime() >= cutoff || (await this.metadata.getUpload(id))) continue;
      purged.push(id);
      if (!dryRun) await this.storage.cancel(id, undefined);
    }
    return purged;
  }

  private async session(repository: RepositoryName, id: string): Promise<UploadSession> {
    const unrecorded = this.live.get(id)?.unrecorded;
    // A copy: a write advances the session it is given, and an unrecorded session holds no byte until recorded.
    const session = unrecorded ? { ...unrecorded } : await this.metadata.getUpload(id);
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
      live = { digest: await this.digests.create(), offset: -1 };
      this.live.set(session.id, live);
    }
    const current = live;
    const id = session.id;
    const done = this.locks.run(`upload:${id}`, async () => {
      // Another replica may have taken chunks since the row was read.
      const fresh = await this.session(session.repository, id);
      if (current.offset !== fresh.offset || current.digest.size !== fresh.offset) await this.rebuild(fresh, current);
      return action(current, fresh);
    });
    current.holder = { signal, done };
    try {
      return await done;
    } finally {
      current.holder = undefined;
      // A saveable digest is restored from the session row by whichever process takes the next
      // chunk; kept here, it would outlive sessions that other replicas finish.
      if (this.digests.kind === 'portable' && !current.unrecorded && this.live.get(id) === current) this.live.delete(id);
    }
  }

  /** Continues the digest from the saved state, or from the stored bytes where none was saved. */
  private async rebuild(session: UploadSession, live: LiveUpload): Promise<void> {
    const restored = session.hashState && (await this.digests.restore(session.hashState, session.offset));
    if (restored) {
      live.digest = restored;
    } else {
      live.digest = await this.digests.create();
      if (session.offset > 0) {
        for await (const chunk of await this.storage.read(session.id, session.storageState, session.offset)) live.digest.update(chunk as Buffer);
      }
      if (live.digest.size !== session.offset) await this.lost(session, new UploadDataLostError(session.id, session.offset, live.digest.size));
    }
    live.offset = session.offset;
  }

  private async lost(session: UploadSession, error: UploadDataLostError): Promise<never> {
    await this.discard(session);
    throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `${error.message}: it lost its data; start a new upload`);
  }

  /** With `final`, the chunk completes the upload: no offset is recorded (the commit follows). */
  private async write(session: UploadSession, live: LiveUpload, body: Readable, options: WriteOptions & { final?: boolean }): Promise<number> {
    const { contentRange } = options;
    if (contentRange && contentRange.start !== session.offset) {
      throw new RegistryError('RANGE_INVALID', `chunk starts at ${contentRange.start} but the upload holds ${session.offset} bytes; resume at ${session.offset}`, { offset: session.offset });
    }
    try {
      const appended = await this.storage.append(session.id, session.storageState, body, {
        offset: session.offset,
        onChunk: (chunk) => live.digest.update(chunk),
        final: options.final && this.durableFinal(session.offset, options.contentLength),
        signal: options.signal,
        length: options.contentLength,
      });
      const received = appended.size - session.offset;
      if (contentRange && received !== contentRange.end - contentRange.start + 1) {
        throw new RegistryError('SIZE_INVALID', `Content-Range announced ${contentRange.end - contentRange.start + 1} bytes but the body held ${received}`);
      }
      const hashState = live.digest.save();
      if (!options.final) await this.metadata.recordUploadProgress(session.id, { offset: appended.size, updatedAt: this.clock(), hashState, storageState: appended.state });
      live.offset = appended.size;
      Object.assign(session, { offset: appended.size, storageState: appended.state, hashState });
      return appended.size;
    } catch (error) {
      // Nothing past the session's offset counts; the digest saw bytes that no longer do.
      live.offset = -1;
      if (error instanceof UploadDataLostError) return this.lost(session, error);
      throw error instanceof ChunkLengthError ? lengthError(error) : error;
    }
  }

  private async rehash(session: UploadSession, size: number, algorithm: 'sha256' | 'sha512'): Promise<Digest> {
    const digester = new Digester(algorithm);
    if (size > 0) {
      for await (const chunk of await this.storage.read(session.id, session.storageState, size)) digester.update(chunk as Buffer);
    }
    return digester.digest();
  }

  /** The append that ends an upload makes it durable, unless its bytes will be in the blob's row (durable with it). */
  private durableFinal(offset: number, contentLength: number | undefined): boolean {
    return contentLength === undefined || !this.blobs.inlines(offset + contentLength);
  }

  private async discard(session: UploadSession): Promise<void> {
    this.live.delete(session.id);
    await this.metadata.deleteUpload(session.id);
    await this.storage.cancel(session.id, session.storageState);
  }
}

function lengthError(error: ChunkLengthError): RegistryError {
  return new RegistryError('SIZE_INVALID', `Content-Length said ${error.announced} bytes but ${error.received} arrived`);
}
