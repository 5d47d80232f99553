import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Digester, digestAlgorithm, type Digest } from '../../oci/digest.js';
import { RegistryError } from '../../oci/errors.js';
import type { ByteRange } from '../../oci/ranges.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { FollowableUploadStorage } from '../../storage/upload-storage.js';
import type { BlobBody } from '../repository.js';
import { UpstreamUnavailable } from '../../upstream/unavailable.js';

/**
 * Single-flight cache fills. Invariant:
 * - At most one upstream fetch per (image, digest) is in flight per proxy; a request for a blob
 *   being filled joins that fill instead of fetching again.
 * - The fill appends the upstream body to an upload file, hashing it on the way; readers follow
 *   that file as it grows (each at its own pace: nothing is buffered for a slow reader) and
 *   switch to the committed blob once it is stored.
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

/** Readers are woken at least this often while a fill is writing. */
const NOTIFY_BYTES = 1024 * 1024;

export type Commit = (digest: Digest, size: number, adopt: () => Promise<void>) => Promise<void>;


export class BlobFill {
  /** `verified`: every byte arrived and matches the digest; the commit (durability, the row) is under way. */
  private state: 'filling' | 'verified' | 'done' | 'failed' = 'filling';
  /** A reader woke and found nothing new: wake readers on the next chunk rather than the next MiB. */
  private starved = false;
  private failure?: Error;
  private readonly waiters = new Set<() => void>();
  readonly finished: Promise<void>;
  private readonly uploadId = randomUUID();

  constructor(
    readonly digest: Digest,
    readonly size: number,
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

  /** Every byte is verified and the commit is under way: it will be cached in a moment. */
  get committing(): boolean {
    return this.state === 'verified';
  }

  private notify(): void {
    for (const wake of [...this.waiters]) wake();
    this.waiters.clear();
  }

  private async run(body: Readable, commit: Commit, stallMs: number): Promise<void> {
    const digester = new Digester(digestAlgorithm(this.digest));
    let received = 0;
    let notified = 0;
    const stalled = setTimeout(() => body.destroy(new UpstreamUnavailable(`upstream sent nothing of ${this.digest} for ${stallMs} ms`)), stallMs).unref();
    try {
      const { size, state } = await this.spool.append(this.uploadId, undefined, body, {
        offset: 0,
        final: true,
        onChunk: (chunk) => {
          stalled.refresh();
          digester.update(chunk);
          // Readers are woken once per MiB (each wake-up costs a stat and an open, so they read in
          // large pieces), and on the next chunk when one woke to find nothing new yet (time to first byte).
          received += chunk.length;
          if (received - notified >= NOTIFY_BYTES || notified === 0 || this.starved) {
            notified = received;
            this.starved = false;
            this.notify();
          }
        },
      });
      clearTimeout(stalled);
      if (size !== this.size) throw new RegistryError('UNAVAILABLE', `upstream sent ${size} bytes of ${this.digest}, not the ${this.size} it announced`);
      const actual = digester.digest();
      if (actual !== this.digest) throw new RegistryError('UNAVAILABLE', `upstream sent content digesting to ${actual}, not ${this.digest}; nothing was cached`);
      // Verified: readers may finish now; making the cache durable is not their wait.
      this.state = 'verified';
      this.notify();
      await commit(this.digest, size, () => this.spool.commit(this.uploadId, state, size, this.digest));
      this.state = 'done';
    } catch (error) {
      this.state = 'failed';
      this.failure = error instanceof Error ? error : new Error(String(error));
      body.destroy();
      await this.spool.cancel(this.uploadId, undefined).catch(() => undefined);
      throw this.failure;
    } finally {
      clearTimeout(stalled);
      this.notify();
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
      signal?.throwIfAborted();
      if (this.state === 'failed') throw this.failure!;
      const changed = new Promise<void>((resolve) => this.waiters.add(resolve));
      const state = this.state;
      // While filling, the blob's last byte is held back: a client sees a complete body only
      // once the fill is verified (and never one that turns out not to match).
      const written = state === 'done' || state === 'verified' ? end : Math.min(end, this.size - 1, (await this.spool.held(this.uploadId)) ?? sent);
      const available = Math.max(written, sent);
      if (available > sent) {
        const source = state === 'done'
          ? await this.blobs.read(this.digest, { start: sent, end: available - 1 })
          : await this.spool.readRange(this.uploadId, sent, available - 1);
        // Undefined: the commit moved the spooled bytes to the blob since the state was read;
        // the commit's wake-up brings the reader back to the blob.
        if (source) {
          sent += await copy(source, destination, signal);
          continue;
        }
      }
      if (this.state === 'filling') this.starved = true;
      await changed;
    }
    destination.end();
  }
}

async function copy(source: Readable, destination: Writable, signal?: AbortSignal): Promise<number> {
  let count = 0;
  try {
    for await (const chunk of source) {
      signal?.throwIfAborted();
      count += (chunk as Buffer).length;
      if (!destination.write(chunk)) await once(destination, 'drain', signal ? { signal } : {});
    }
  } finally {
    source.destroy();
  }
  return count;
}

