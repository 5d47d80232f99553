import { constants } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, opendir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { dirname, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { ByteRange } from '../oci/ranges.js';
import { ObjectNotFoundError, type ListedObject, type ObjectReader, type StorageDriver, type StoredObject } from './driver.js';
import { isNotFound, pathUnder, READ_CHUNK, syncDirectory } from './filesystem-io.js';
/**
 * Serving: two buffers per transfer, one being read while the other is written to the socket.
 * 1 MiB measured fastest on loopback (256 KiB: ~2,900 MiB/s, 512 KiB: ~3,500, 1 MiB: ~4,000,
 * 2 MiB: no better).
 */
const SEND_CHUNK = 1024 * 1024;
/**
 * At most this many 1 MiB send buffers exist, reused from transfer to transfer and never
 * freed: 32 parallel pulls with fresh buffers each left ~100 MiB of freed-but-retained malloc
 * memory behind. Transfers beyond the pool (and objects under SMALL_SEND) get buffers of their
 * own, of at most SMALL_SEND bytes.
 */
const SEND_POOL_BUFFERS = 16;
const SMALL_SEND = 128 * 1024;

class SendBuffers {
  private readonly free: Buffer[] = [];
  private lent = 0;

  take(objectSize: number): Buffer {
    if (objectSize <= SMALL_SEND) return Buffer.allocUnsafeSlow(Math.max(1, objectSize));
    const pooled = this.free.pop() ?? (this.lent < SEND_POOL_BUFFERS ? Buffer.allocUnsafeSlow(SEND_CHUNK) : undefined);
    if (!pooled) return Buffer.allocUnsafeSlow(SMALL_SEND);
    this.lent++;
    return pooled;
  }

  /** After every write using the buffer has completed. */
  give(buffer: Buffer): void {
    if (buffer.length !== SEND_CHUNK) return;
    this.lent--;
    this.free.push(buffer);
  }

  /** A transfer that failed may leave a write pending on the buffer: it is left to the GC, and the pool may replace it. */
  forget(buffer: Buffer): void {
    if (buffer.length === SEND_CHUNK) this.lent--;
  }
}

const sendBuffers = new SendBuffers();

/**
 * The filesystem driver. Durability: `writeAtomic` and `copy` fsync the data, and a rename's
 * directory is fsynced after it, so a `kill -9` or power loss never shows a partial object.
 * Uploads have their own seam (`filesystem-uploads.ts`).
 */
export class FilesystemDriver implements StorageDriver {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = `filesystem at ${root}`;
  }

  private path(key: string): string {
    return pathUnder(this.root, key);
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const info = await stat(this.path(key));
      return info.isFile() ? { size: info.size, modifiedAt: info.mtime } : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const handle = await this.openHandle(key);
    // Sized to the object: a stream allocates a whole high-water mark per read, and small
    // objects (manifests, configs) read through 1 MiB buffers kept the garbage collector busy.
    const length = range ? range.end - range.start + 1 : (await handle.stat()).size;
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: Math.max(1, Math.min(READ_CHUNK, length)), autoClose: true });
  }

  async open(key: string, range?: ByteRange): Promise<ObjectReader> {
    const handle = await this.openHandle(key);
    const start = range?.start ?? 0;
    const end = range?.end ?? (await handle.stat()).size - 1;
    return { pipeTo: (destination, signal) => sendRange(handle, start, end, destination, signal) };
  }

  private async openHandle(key: string): Promise<FileHandle> {
    try {
      return await open(this.path(key), constants.O_RDONLY);
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  async writeAtomic(key: string, data: Buffer): Promise<void> {
    const target = this.path(key);
    const temporary = `${target}.${randomUUID()}.tmp`;
    await mkdir(dirname(target), { recursive: true });
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    await syncDirectory(dirname(target));
  }

  async copy(from: string, to: string): Promise<void> {
    const source = this.path(from);
    const target = this.path(to);
    await mkdir(dirname(target), { recursive: true });
    try {
      await link(source, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      if (code === 'ENOENT') throw new ObjectNotFoundError(from);
      // Another filesystem, or one without hard links: write the bytes (a reflink where supported).
      if (!CANNOT_LINK.has(code ?? '')) throw error;
      try {
        await copyDurably(source, target);
      } catch (copyError) {
        if (isNotFound(copyError)) throw new ObjectNotFoundError(from);
        throw copyError;
      }
    }
    await syncDirectory(dirname(target));
  }

  async delete(key: string): Promise<void> {
    // unlink, not rm: one syscall instead of lstat + unlink (collections delete thousands).
    try {
      await unlink(this.path(key));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    const base = this.path(prefix.replace(/\/+$/, ''));
    for await (const { key, path } of walk(base, prefix.replace(/\/+$/, ''))) {
      const info = await lstat(path).catch((error: unknown) => (isNotFound(error) ? undefined : Promise.reject(error)));
      if (info?.isFile()) yield { key, size: info.size, modifiedAt: info.mtime };
    }
  }
}

/** Sends [start, end] of a file and ends the writable; the file must hold every byte of it. */
async function sendRange(handle: FileHandle, start: number, end: number, destination: Writable, signal?: AbortSignal): Promise<void> {
  try {
    const sent = await copyFileRange(handle, start, end, destination, signal);
    if (sent !== end - start + 1) throw new Error(`object ended at ${start + sent}, before ${end + 1}`);
    await new Promise<void>((resolve) => destination.end(resolve));
  } finally {
    await handle.close();
  }
}

/**
 * Copies [start, end] of a file, as far as the file goes, into a writable with two reused
 * buffers: read into one while the other is being written. A stream pipeline would allocate
 * (and page-fault) a fresh buffer for every chunk; on loopback that costs more than the copy
 * itself. A buffer is read into again only after its write callback fired, which is also the
 * backpressure. The writable stays open; the count of bytes copied.
 */
export async function copyFileRange(handle: FileHandle, start: number, end: number, destination: Writable, signal?: AbortSignal): Promise<number> {
  const buffers: (Buffer | undefined)[] = [undefined, undefined];
  let completed = false;
  const written: (Promise<void> | undefined)[] = [undefined, undefined];
  let failure: Error | undefined;
  let onClose: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (onClose = resolve));
  destination.once('close', onClose);
  const write = (chunk: Buffer) =>
    new Promise<void>((resolve) =>
      destination.write(chunk, (error) => {
        failure ??= error ?? undefined;
        resolve();
      }),
    );
  const check = () => {
    if (failure) throw failure;
    if (destination.destroyed || signal?.aborted) throw new Error('the destination closed before the object was sent');
  };
  try {
    let position = start;
    let index = 0;
    while (position <= end) {
      if (written[index]) await Promise.race([written[index], closed]);
      check();
      const buffer = (buffers[index] ??= sendBuffers.take(end - start + 1));
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position + 1), position);
      if (bytesRead === 0) break;
      position += bytesRead;
      check();
      written[index] = write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      index ^= 1;
    }
    await Promise.race([Promise.all(written), closed]);
    check();
    completed = true;
    return position - start;
  } finally {
    destination.off('close', onClose);
    // Once every write callback has fired the socket holds no reference to the buffers.
    for (const buffer of buffers) if (buffer) (completed ? sendBuffers.give(buffer) : sendBuffers.forget(buffer));
  }
}

/** Files below `directory` (temporary files excluded), depth first. */
export async function* walk(directory: string, keyPrefix: string): AsyncIterable<{ key: string; path: string }> {
  let entries;
  try {
    entries = await opendir(directory);
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  for await (const entry of entries) {
    const key = `${keyPrefix}/${entry.name}`;
    const path = `${directory}${sep}${entry.name}`;
    if (entry.isDirectory()) yield* walk(path, key);
    else if (entry.isFile() && !entry.name.endsWith('.tmp')) yield { key, path };
  }
}

const CANNOT_LINK = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);

/** Copies into a temporary file, fsyncs it, then renames it over `target`: visible whole or not at all. */
async function copyDurably(source: string, target: string): Promise<void> {
  const temporary = `${target}.${randomUUID()}.tmp`;
  try {
    await copyFile(source, temporary, constants.COPYFILE_FICLONE);
    const handle = await open(temporary, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

