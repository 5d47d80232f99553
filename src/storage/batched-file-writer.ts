import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** A batch is written once it holds this many chunks even if smaller than `batchBytes` (a trickle of tiny chunks). */
const MAX_BATCH_CHUNKS = 256;
/** Received bytes wait in a batch at most this long when the source pauses (a slow client, a stalled upstream). */
const IDLE_FLUSH_MS = 20;

/**
 * A stream's chunks written to a file at a position in batches of about `batchBytes`, one
 * `writev` each, rather than one write per chunk: a chunk from a socket is 64 KiB, and each
 * file write is a round trip through libuv's thread pool (a futex wake, an event-loop turn),
 * which a 256 MiB proxy fill paid about 4,000 times (a 512 MiB push, builds alternated in one
 * session: 313–331 -> 416–429 MiB/s, server CPU 1.22 -> 0.99 s). A batch holds the chunks, not copies. Writes run one after another, and a full batch holds the source
 * back until it is written. The file lags the stream by at most a batch (or `idleFlushMs` when
 * the source pauses); when the stream finishes, every byte has been written.
 */
export class BatchedFileWriter extends Writable {
  private batch: Buffer[] = [];
  private batchedBytes = 0;
  /** Every write so far, in order; rejected from the first failure on. */
  private writes: Promise<void> = Promise.resolve();
  private idleFlush: NodeJS.Timeout | undefined;

  constructor(
    private readonly handle: FileHandle,
    private position: number,
    private readonly batchBytes: number,
    private readonly idleFlushMs = IDLE_FLUSH_MS,
  ) {
    super({ highWaterMark: batchBytes });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.batch.push(chunk);
    this.batchedBytes += chunk.length;
    if (this.batchedBytes < this.batchBytes && this.batch.length < MAX_BATCH_CHUNKS) {
      // A failed idle write fails the next full batch or the end of the stream.
      this.idleFlush ??= setTimeout(() => this.flush().catch(() => undefined), this.idleFlushMs).unref();
      callback();
      return;
    }
    this.flush().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flush().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idleFlush);
    callback(error);
  }

  /** Resolves once no write is running, so the file can be cut back or closed under none. */
  async settled(): Promise<void> {
    await this.writes.catch(() => undefined);
  }

  private flush(): Promise<void> {
    clearTimeout(this.idleFlush);
    this.idleFlush = undefined;
    if (this.batchedBytes > 0 && !this.destroyed) {
      const chunks = this.batch;
      const position = this.position;
      this.position += this.batchedBytes;
      this.batch = [];
      this.batchedBytes = 0;
      this.writes = this.writes.then(() => writeFully(this.handle, chunks, position));
    }
    return this.writes;
  }
}

/** `writev` until every byte is written (a regular file may take fewer bytes than asked, e.g. near a full disk). */
async function writeFully(handle: FileHandle, chunks: Buffer[], position: number): Promise<void> {
  let remaining = chunks;
  while (remaining.length > 0) {
    const { bytesWritten } = await handle.writev(remaining, position);
    if (bytesWritten === 0) throw new Error('the file took no bytes');
    position += bytesWritten;
    remaining = dropBytes(remaining, bytesWritten);
  }
}

function dropBytes(chunks: Buffer[], count: number): Buffer[] {
  let index = 0;
  while (index < chunks.length && count >= chunks[index]!.length) count -= chunks[index++]!.length;
  const rest = chunks.slice(index);
  if (count > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(count);
  return rest;
}
