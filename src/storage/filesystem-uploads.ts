import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, truncate, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../oci/digest.js';
import { BatchedFileWriter } from './batched-file-writer.js';
import { copyFileRange, walk } from './filesystem-driver.js';
import { isNotFound, openCreatingParent, pathUnder, READ_CHUNK, syncDirectory, WriteBehind } from './filesystem-io.js';
import { layout } from './layout.js';
import { ChunkLengthError, UploadDataLostError, type AppendedChunk, type FollowableUploadStorage, type UploadAppendOptions, type UploadStorageState } from './upload-storage.js';

/**
 * Uploads as files under the storage root, beside the blobs they become: a commit is an fsync
 * and a rename. A chunk is appended at the acknowledged offset; whatever lies past it (a chunk
 * that failed, or one cut short by a crash) is cut off first. Chunks are not fsynced — they
 * survive the process, not a power cut, and then the upload reads short and is reported lost —
 * only the commit that makes a blob visible pays for durability. No state beyond the file.
 */
/**
 * The state a final append returns: the file holds exactly the upload's bytes and they are on
 * disk (its fsync covers the earlier, unsynced chunks too), so the commit only renames.
 */
const SYNCED_BY_FINAL_APPEND = 'synced';

export class FilesystemUploadStorage implements FollowableUploadStorage {
  constructor(private readonly root: string) {}

  private path(id: string): string {
    return pathUnder(this.root, layout.upload(id));
  }

  async append(id: string, _state: UploadStorageState, source: Readable, options: UploadAppendOptions): Promise<AppendedChunk> {
    const path = this.path(id);
    if (options.offset > 0) await this.cutBackTo(id, path, options.offset);
    const handle = await openCreatingParent(path, options.offset === 0 ? 'w' : 'r+');
    let written = 0;
    const onChunk = options.onChunk;
    const writeBehind = new WriteBehind(handle);
    const output = new BatchedFileWriter(handle, options.offset, READ_CHUNK);
    try {
      await pipeline(
        source,
        async function* tap(chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            onChunk?.(chunk);
            written += chunk.length;
            writeBehind.wrote(chunk.length);
            yield chunk;
          }
        },
        output,
        options.signal ? { signal: options.signal } : {},
      );
      await writeBehind.settle();
      if (options.length !== undefined && written !== options.length) throw new ChunkLengthError(options.length, written);
      // The last chunk's bytes are made durable while the file is open: the commit needs them so.
      if (options.final) await handle.sync();
    } catch (error) {
      output.destroy();
      await output.settled();
      await writeBehind.settle().catch(() => undefined);
      await handle.truncate(options.offset).catch(() => undefined);
      throw error;
    } finally {
      output.destroy();
      await output.settled();
      await writeBehind.settle().catch(() => undefined);
      await handle.close();
    }
    return { size: options.offset + written, state: options.final ? SYNCED_BY_FINAL_APPEND : undefined };
  }

  /** Bytes past the acknowledged offset were never acknowledged: they go. Fewer means the data was lost. */
  private async cutBackTo(id: string, path: string, offset: number): Promise<void> {
    const size = await stat(path).then(
      (info) => info.size,
      (error: unknown) => (isNotFound(error) ? -1 : Promise.reject(error)),
    );
    if (size < offset) throw new UploadDataLostError(id, offset, Math.max(size, 0));
    if (size > offset) await truncate(path, offset);
  }

  async commit(id: string, state: UploadStorageState, size: number, digest: Digest): Promise<void> {
    const path = this.path(id);
    if (state !== SYNCED_BY_FINAL_APPEND) await this.makeDurable(id, path, size);
    // A blob already stored holds the same bytes: replacing it costs less than asking first.
    const target = pathUnder(this.root, layout.blob(digest));
    try {
      await rename(path, target);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await mkdir(dirname(target), { recursive: true });
      await rename(path, target);
    }
    await syncDirectory(dirname(target));
  }

  /** The first `size` bytes on disk and nothing after them (chunks are not fsynced as they arrive). */
  private async makeDurable(id: string, path: string, size: number): Promise<void> {
    const handle = await openCreatingParent(path, size === 0 ? 'w' : 'r+');
    try {
      const held = (await handle.stat()).size;
      if (held < size) throw new UploadDataLostError(id, size, held);
      if (held > size) await handle.truncate(size);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async read(id: string, _state: UploadStorageState, size: number): Promise<Readable> {
    if (size === 0) return createReadStream('/dev/null');
    return createReadStream(this.path(id), { start: 0, end: size - 1, highWaterMark: Math.min(READ_CHUNK, size) });
  }

  async prepare(id: string): Promise<void> {
    await mkdir(dirname(this.path(id)), { recursive: true });
  }

  /** A range of the bytes written so far, while a writer may still be appending (proxy fills are followed as they grow); undefined once they are gone (committed or cancelled). */
  async sendRange(id: string, start: number, end: number, destination: Writable, signal?: AbortSignal): Promise<number | undefined> {
    const handle = await open(this.path(id), 'r').catch((error: unknown) => (isNotFound(error) ? undefined : Promise.reject(error)));
    if (!handle) return undefined;
    try {
      return await copyFileRange(handle, start, end, destination, signal);
    } finally {
      await handle.close();
    }
  }

  async cancel(id: string, _state?: UploadStorageState): Promise<void> {
    await unlink(this.path(id)).catch((error: unknown) => (isNotFound(error) ? undefined : Promise.reject(error)));
  }

  async *list(): AsyncIterable<{ id: string; modifiedAt: Date }> {
    const prefix = layout.uploadsPrefix().replace(/\/+$/, '');
    for await (const { key, path } of walk(pathUnder(this.root, prefix), prefix)) {
      const info = await stat(path).catch(() => undefined);
      const id = key.slice(key.lastIndexOf('/') + 1);
      if (info && layout.isUploadId(id)) yield { id, modifiedAt: info.mtime };
    }
  }
}
