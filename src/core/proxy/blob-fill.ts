import type { Readable, Writable } from 'node:stream';
import { Digester, digestAlgorithm, type Digest } from '../../oci/digest.js';
import { RegistryError } from '../../oci/errors.js';
import type { ByteRange } from '../../oci/ranges.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { FollowableUploadStorage } from '../../storage/upload-storage.js';
import type { BlobBody } from '../repository.js';
import { UpstreamUnavailable } from '../../upstream/unavailable.js';
import { RecentChunks } from './recent-chunks.js';

/**
 * Single-flight cache fills. Invariant:
 * - At most one upstream fetch per (image, digest) is in flight per proxy; a request for a blob
 *   being filled joins that fill instead of fetching again.
 * - The fill appends the upstream body to an upload file, hashing it on the way. A reader that
 *   has caught up is handed each chunk as it arrives (the same buffer every such reader writes
 *   to its socket: no copy, no file read, no wake-up); one whose socket holds more than
 *   LIVE_BACKLOG unsent bytes drops out, waits for it to drain, and catches up from the last
 *   RECENT_BYTES kept in memory, or from the upload file when further behind, then rejoins.
 *   Nothing is buffered beyond those bounds for a slow reader. Once the blob is stored,
 *   readers still behind read it from the blob store.
 * - The fill belongs to no request: a reader that goes away does not cancel it.
 * - Before commit the digest and length are verified; then, under the digest's lock (the same
 *   lock uploads and garbage collection take), the file becomes the blob and is linked. On any
 *   failure (upstream error mid-body, mismatch) nothing is committed, the file is deleted and
 *   every reader still reading fails. Readers get the blob's last byte only once every byte is
 *   verified, so no client ever receives a complete body that does not match its digest; the
 *   commit (fsync, rename, row) then goes on without holding them.
 */
export interface FillSource {
  size: number;
  body: Readable;
}

/** Unsent bytes a reader's socket may hold before the reader stops being handed chunks. */
const LIVE_BACKLOG = 1024 * 1024;
/**
 * Received bytes kept in memory (one window per fill, shared by its readers), for readers a
 * little behind. Far more than the upload file lags behind the upstream (the batch being
 * written and the next, ~2 MiB: see BatchedFileWriter), so bytes older than the window are in
 * the file. A larger window that let the file lag further (32 MiB) cost more CPU per cold pull
 * on this machine and gained nothing measurable: the disk was not what held fills back.
 */
const RECENT_BYTES = 8 * 1024 * 1024;

/** `adopt` makes the spooled bytes the stored blob, or returns them when they belong in its row (BlobStore.placeUpload). */
export type Commit = (digest: Digest, size: number, adopt: () => Promise<Buffer | undefined>) => Promise<void>;

/** A reader that has caught up: the fill writes each arriving chunk to it. */
interface LiveReader {
  destination: Writable;
  sent: number;
  end: number;
  leave: () => void;
}

export class BlobFill {
  /** `verified`: every byte arrived and matches the digest; the commit (durability, the row) is under way. */
  private state: 'filling' | 'verified' | 'done' | 'failed' = 'filling';
  private failure?: Error;
  private readonly recent = new RecentChunks(RECENT_BYTES);
  private readonly live = new Set<LiveReader>();
  /** Readers waiting for bytes to reach the upload file, or for the state to change. */
  private readonly waiters = new Set<() => void>();
  readonly finished: Promise<void>;

  constructor(
    readonly digest: Digest,
    readonly size: number,
    /** The spool session the fill writes (see FollowableUploadStorage.prepare). */
    private readonly uploadId: string,
    private readonly blobs: BlobStore,
    private readonly spool: FollowableUploadStorage,
    body: Readable,
    commit: Commit,
    /** A body that sends nothing for this long fails the fill (and every reader). */
    stallMs: number,
  ) {
    this.finished = this.run(body, commit, stallMs);
    this.finished.catch(() => undefined);
  }

  /** Bytes are still arriving from the upstream. */
  get receiving(): boolean {
    return this.state === 'filling';
  }

  /** Every byte is verified and the commit is under way: it will be cached in a moment. */
  get committing(): boolean {
    return this.state === 'verified';
  }

  /** The state changed: every reader looks again. */
  private notify(): void {
    for (const reader of [...this.live]) reader.leave();
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    if (this.waiters.size === 0) return;
    for (const wake of [...this.waiters]) wake();
    this.waiters.clear();
  }

  private async run(body: Readable, commit: Commit, stallMs: number): Promise<void> {
    const digester = new Digester(digestAlgorithm(this.digest));
    const stalled = setTimeout(() => body.destroy(new UpstreamUnavailable(`upstream sent nothing of ${this.digest} for ${stallMs} ms`)), stallMs).unref();
    try {
      const { size, state } = await this.spool.append(this.uploadId, undefined, body, {
        offset: 0,
        // Durable now, unless the bytes are going into the blob's row (durable with it).
        final: !this.blobs.inlines(this.size),
        onChunk: (chunk) => {
          stalled.refresh();
          const offset = this.recent.end;
          if (offset + chunk.length > this.size) throw new RegistryError('UNAVAILABLE', `upstream sent more than the ${this.size} bytes of ${this.digest} it announced`);
          digester.update(chunk);
          this.recent.push(chunk);
          // The last byte is verified as it arrives: readers finish while the disk catches up.
          if (this.recent.end === this.size) this.verify(this.size, digester);
          else this.handOut(chunk, offset);
          this.wakeWaiters();
        },
      });
      clearTimeout(stalled);
      if (this.state === 'filling') this.verify(size, digester);
      await commit(this.digest, size, () => this.blobs.placeUpload(this.spool, this.uploadId, state, size, this.digest));
      this.state = 'done';
      // A blob kept in its row was read back from the spool, which nobody needs any more.
      if (this.blobs.inlines(size)) await this.spool.cancel(this.uploadId, state).catch(() => undefined);
    } catch (error) {
      this.state = 'failed';
      this.failure = error instanceof Error ? error : new Error(String(error));
      body.destroy();
      await this.spool.cancel(this.uploadId, undefined).catch(() => undefined);
      throw this.failure;
    } finally {
      clearTimeout(stalled);
      // Readers still behind read the stored blob (or fail): memory is not theirs to keep.
      this.recent.clear();
      this.notify();
    }
  }

  /** Every byte arrived and matches: readers may finish now; making the cache durable is not their wait. */
  private verify(size: number, digester: Digester): void {
    if (size !== this.size) throw new RegistryError('UNAVAILABLE', `upstream sent ${size} bytes of ${this.digest}, not the ${this.size} it announced`);
    const actual = digester.digest();
    if (actual !== this.digest) throw new RegistryError('UNAVAILABLE', `upstream sent content digesting to ${actual}, not ${this.digest}; nothing was cached`);
    this.state = 'verified';
    this.notify();
  }

  /** Writes the part of `chunk` (at `offset`) each caught-up reader wants; never throws into the fill. */
  private handOut(chunk: Buffer, offset: number): void {
    // The blob's last byte is held back until every byte is verified.
    const held = this.size - 1;
    for (const reader of this.live) {
      const { destination } = reader;
      if (destination.destroyed) {
        reader.leave();
        continue;
      }
      const to = Math.min(reader.end, held, offset + chunk.length);
      if (to > reader.sent) {
        destination.write(reader.sent === offset && to === offset + chunk.length ? chunk : chunk.subarray(reader.sent - offset, to - offset));
        reader.sent = to;
      }
      if (reader.sent >= reader.end || destination.writableLength > LIVE_BACKLOG) reader.leave();
    }
  }

  /** A body that streams `range` (or everything) as the fill writes it. */
  reader(range: ByteRange | undefined): BlobBody {
    const start = range?.start ?? 0;
    const end = range ? range.end + 1 : this.size;
    return { pipeTo: (destination, signal) => this.follow(destination, start, end, signal) };
  }

  private async follow(destination: Writable, start: number, end: number, signal?: AbortSignal): Promise<void> {
    let sent = start;
    while (sent < end) {
      if (this.state === 'failed') throw this.failure!;
      await roomIn(destination, signal);
      if (this.state === 'done') {
        const stored = await this.blobs.open(this.digest, { start: sent, end: end - 1 }, this.size);
        return stored.pipeTo(destination, signal);
      }
      const limit = this.state === 'verified' ? end : Math.min(end, this.size - 1);
      if (sent < this.recent.start) {
        const copied = await this.fromSpool(destination, sent, this.recent.start, signal);
        sent += copied;
        // Nothing readable yet: the file lags the bytes received, or the commit moved it.
        if (copied === 0) await this.change();
      } else if (sent < Math.min(this.recent.end, limit)) {
        sent += fromMemory(this.recent.slice(sent, Math.min(this.recent.end, limit)), destination);
      } else if (this.state === 'filling') {
        sent = await this.joinLive(destination, sent, end, signal);
      } else {
        // Verified while this reader was away and the window no longer holds its bytes.
        await this.change();
      }
    }
    destination.end();
  }

  /** Resolves with the reader's position once it leaves the live set (backlog, its end, a state change, abort). */
  private joinLive(destination: Writable, sent: number, end: number, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    return new Promise((resolve) => {
      const reader: LiveReader = {
        destination,
        sent,
        end,
        leave: () => {
          this.live.delete(reader);
          signal?.removeEventListener('abort', reader.leave);
          resolve(reader.sent);
        },
      };
      this.live.add(reader);
      signal?.addEventListener('abort', reader.leave, { once: true });
    });
  }

  private change(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  /** Bytes [from, to) from the upload file, as far as they are there; 0 once the commit moved them. */
  private async fromSpool(destination: Writable, from: number, to: number, signal?: AbortSignal): Promise<number> {
    return (await this.spool.sendRange(this.uploadId, from, to - 1, destination, signal)) ?? 0;
  }
}

/** Writes pieces until the destination holds LIVE_BACKLOG unsent bytes; the count written. */
function fromMemory(pieces: Buffer[], destination: Writable): number {
  let count = 0;
  for (const piece of pieces) {
    destination.write(piece);
    count += piece.length;
    if (destination.writableLength > LIVE_BACKLOG) break;
  }
  return count;
}

/** Waits until the destination has sent what it holds (when it asked to be waited for); throws once it is gone. */
async function roomIn(destination: Writable, signal?: AbortSignal): Promise<void> {
  const gone = () => {
    signal?.throwIfAborted();
    if (destination.destroyed) throw new Error('the client went away');
  };
  gone();
  if (!destination.writableNeedDrain) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      destination.off('drain', done);
      destination.off('close', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    destination.on('drain', done);
    destination.on('close', done);
    signal?.addEventListener('abort', done);
  });
  gone();
}
