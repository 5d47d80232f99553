import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type MultipartUpload,
} from '@aws-sdk/client-s3';
import type { Digest } from '../../oci/digest.js';
import { layout } from '../layout.js';
import { ChunkLengthError, type AppendedChunk, type UploadAppendOptions, type UploadStorage, type UploadStorageState } from '../upload-storage.js';
import { isNoSuchUpload, type S3Bucket } from './bucket.js';
import { MAX_COPY_OBJECT, S3Driver } from './s3-driver.js';
import { PartBuffer } from './part-buffer.js';

/**
 * What a session holds, persisted by the caller as its `UploadStorageState`:
 *   parts   whole `chunksize` parts of a multipart upload whose target is the session's `data`
 *           key (created with the first whole part), in order;
 *   tail    the bytes after the last whole part, as segments: each append that does not fill a
 *           part writes only its own bytes, as an ordinary object `tail-<generation>`; they are
 *           read back (at most one part's worth) only when a part fills or at the commit;
 *   generation  counts appends, so each append's segment has a key of its own.
 * A failed append never touches what the state it started from points at: its parts take the
 * next part numbers (a retry overwrites them; completion lists only the state's parts) and its
 * segment a new key. So any replica can continue from the last persisted state. Segments and
 * parts no state points at any more are removed with the session.
 */
interface SessionState {
  uploadId?: string;
  parts: { etag: string; size: number }[];
  generation: number;
  tail: { generation: number; size: number }[];
}

const EMPTY: SessionState = { parts: [], generation: 0, tail: [] };

/** Thrown when bytes are asked for that a multipart upload cannot give back before it completes. */
export class UploadNotReadableError extends Error {
  constructor(id: string) {
    super(`upload ${id}: S3 multipart parts cannot be read before completion; resume from the saved digest state`);
    this.name = 'UploadNotReadableError';
  }
}

/**
 * `UploadStorage` as one S3 multipart upload per session. Memory per append: the part being
 * received plus one being sent (2 × chunksize), never the blob.
 */
export class S3UploadStorage implements UploadStorage {
  private readonly driver: S3Driver;
  private readonly chunkSize: number;

  constructor(private readonly bucket: S3Bucket) {
    this.driver = new S3Driver(bucket);
    this.chunkSize = bucket.config.chunkSize;
  }

  async append(id: string, state: UploadStorageState, source: Readable, options: UploadAppendOptions): Promise<AppendedChunk> {
    const current = parseState(state);
    const held = sizeOf(current);
    if (options.offset !== held) throw new Error(`upload ${id}: offset ${options.offset} is not the ${held} bytes held`);
    const next: SessionState = { ...current, parts: [...current.parts], generation: current.generation + 1, tail: [...current.tail] };
    const pending = new PartBuffer();

    let sending: Promise<void> | undefined;
    let partIndex = next.parts.length;
    const send = async (body: Buffer, index: number) => {
      const { ETag } = await this.bucket.client.send(
        new UploadPartCommand({ Bucket: this.bucket.name, Key: this.dataObject(id), UploadId: next.uploadId, PartNumber: index + 1, Body: body, ContentLength: body.length }),
        { abortSignal: options.signal },
      );
      next.parts[index] = { etag: ETag ?? '', size: body.length };
    };
    let received = 0;
    try {
      for await (const chunk of source) {
        options.onChunk?.(chunk as Buffer);
        received += (chunk as Buffer).length;
        pending.push(chunk as Buffer);
        if (pending.size + tailSize(next) < this.chunkSize) continue;
        // A part fills: the earlier segments go in front of the new bytes.
        if (next.tail.length > 0) pending.prepend(await this.readTail(id, next));
        next.tail = [];
        while (pending.size >= this.chunkSize) {
          const body = pending.take(this.chunkSize);
          next.uploadId ??= await this.createMultipart(id);
          // One part on the wire while the next is received keeps both directions busy.
          await sending;
          sending = send(body, partIndex++);
          sending.catch(() => undefined); // awaited below; this only keeps it from being unhandled meanwhile
        }
      }
      await sending;
    } finally {
      // A part still on the wire must not land after a retry has sent the same part number.
      await sending?.catch(() => undefined);
    }
    // A short chunk keeps nothing: the state it started from stays the session's.
    if (options.length !== undefined && received !== options.length) throw new ChunkLengthError(options.length, received);
    if (pending.size > 0) {
      const size = pending.size;
      await this.driver.writeAtomic(this.segmentKey(id, next.generation), pending.take(size));
      next.tail.push({ generation: next.generation, size });
    }
    return { size: sizeOf(next), state: JSON.stringify(next) };
  }

  /**
   * Completing a multipart upload can only place the bytes at the key it was started for, and
   * the digest is not known then: so the upload completes at the session's `data` key and a
   * server-side copy puts it at the blob's key; nothing passes through Berth. The copy is one
   * CopyObject request (up to S3's 5 GiB limit) whatever `multipartcopythresholdsize` says:
   * RGW then shares the stored data instead of copying it (measured for 160 MiB: 115 ms, against
   * 6.4 s copied part by part). A blob smaller than one part never started a multipart upload:
   * a single segment is copied, several are joined (less than one part, through memory).
   */
  async commit(id: string, state: UploadStorageState, size: number, digest: Digest): Promise<void> {
    const current = parseState(state);
    if (sizeOf(current) !== size) throw new Error(`upload ${id}: commit of ${size} bytes, but ${sizeOf(current)} are held`);
    const target = layout.blob(digest);
    if (current.uploadId === undefined) {
      const [only, ...more] = current.tail;
      if (only && more.length === 0) await this.driver.copyWithin(this.segmentKey(id, only.generation), target, MAX_COPY_OBJECT);
      else if (!(await this.driver.stat(target))) await this.driver.writeAtomic(target, Buffer.concat(await this.readTail(id, current)));
    } else {
      await this.complete(id, current, size);
      await this.driver.copyWithin(this.dataKey(id), target, MAX_COPY_OBJECT);
    }
    await this.removeObjects(id);
  }

  private async complete(id: string, current: SessionState, size: number): Promise<void> {
    const { client, name } = this.bucket;
    const Key = this.dataObject(id);
    const parts = current.parts.map((part, index) => ({ PartNumber: index + 1, ETag: part.etag }));
    try {
      // The last part may be under 5 MiB. One segment is copied server-side; several are joined.
      const PartNumber = parts.length + 1;
      if (current.tail.length === 1) {
        const { CopyPartResult } = await client.send(
          new UploadPartCopyCommand({ Bucket: name, Key, UploadId: current.uploadId, PartNumber, CopySource: this.bucket.copySource(this.segmentKey(id, current.tail[0]!.generation)) }),
        );
        parts.push({ PartNumber, ETag: CopyPartResult?.ETag ?? '' });
      } else if (current.tail.length > 1) {
        const body = Buffer.concat(await this.readTail(id, current));
        const { ETag } = await client.send(new UploadPartCommand({ Bucket: name, Key, UploadId: current.uploadId, PartNumber, Body: body, ContentLength: body.length }));
        parts.push({ PartNumber, ETag: ETag ?? '' });
      }
      await client.send(new CompleteMultipartUploadCommand({ Bucket: name, Key, UploadId: current.uploadId, MultipartUpload: { Parts: parts } }));
    } catch (error) {
      // A commit retried after its completion succeeded (and the copy or cleanup failed).
      if (!isNoSuchUpload(error) || (await this.driver.stat(this.dataKey(id)))?.size !== size) throw error;
    }
  }

  async read(id: string, state: UploadStorageState, size: number): Promise<Readable> {
    const current = parseState(state);
    if (current.uploadId !== undefined) throw new UploadNotReadableError(id);
    const segments = current.tail;
    const driver = this.driver;
    const segmentKey = (generation: number) => this.segmentKey(id, generation);
    return Readable.from((async function* () {
      let left = size;
      for (const segment of segments) {
        if (left <= 0) return;
        const length = Math.min(left, segment.size);
        yield* await driver.read(segmentKey(segment.generation), { start: 0, end: length - 1 });
        left -= length;
      }
    })());
  }

  /** The tail's segments, in order (less than one part in all). */
  private async readTail(id: string, state: SessionState): Promise<Buffer[]> {
    const chunks: Buffer[] = [];
    for (const segment of state.tail) for await (const chunk of await this.driver.read(this.segmentKey(id, segment.generation))) chunks.push(chunk as Buffer);
    return chunks;
  }

  async cancel(id: string, _state: UploadStorageState): Promise<void> {
    await this.removeObjects(id);
  }

  /**
   * Sessions by their objects: multipart uploads (dated by their start) and tails (by their
   * write). A session between its first part and its first tail is dated by its start.
   */
  async *list(): AsyncIterable<{ id: string; modifiedAt: Date }> {
    const latest = new Map<string, Date>();
    const note = (key: string, date: Date | undefined) => {
      const id = layout.uploadIdOf(key);
      if (!id || !date) return;
      const known = latest.get(id);
      if (!known || known < date) latest.set(id, date);
    };
    for await (const upload of this.multipartUploads(layout.uploadsPrefix())) note(this.bucket.storageKey(upload.Key ?? ''), upload.Initiated);
    for await (const object of this.driver.list(layout.uploadsPrefix())) note(object.key, object.modifiedAt);
    for (const [id, modifiedAt] of latest) yield { id, modifiedAt };
  }

  /**
   * Every multipart upload of the session is aborted, not only the persisted one: an append that
   * failed before its state was saved may have started another.
   */
  private async removeObjects(id: string): Promise<void> {
    for await (const upload of this.multipartUploads(layout.uploadObjectsPrefix(id))) {
      await this.bucket.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket.name, Key: upload.Key, UploadId: upload.UploadId }))
        .catch((error: unknown) => {
          if (!isNoSuchUpload(error)) throw error;
        });
    }
    const keys: string[] = [];
    for await (const object of this.driver.list(layout.uploadObjectsPrefix(id))) keys.push(object.key);
    await this.driver.deleteMany(keys);
  }

  private async *multipartUploads(prefix: string): AsyncIterable<MultipartUpload> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.bucket.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.bucket.name, Prefix: this.bucket.key(prefix), ...(keyMarker ? { KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker } : {}) }),
      );
      yield* page.Uploads ?? [];
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.NextUploadIdMarker;
    } while (keyMarker);
  }

  private async createMultipart(id: string): Promise<string> {
    const { UploadId } = await this.bucket.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket.name, Key: this.dataObject(id), ...this.bucket.encryption }));
    if (!UploadId) throw new Error(`upload ${id}: the object store started a multipart upload without an id`);
    return UploadId;
  }

  private dataKey(id: string): string {
    return layout.uploadObject(id, 'data');
  }

  /** The data key as the bucket names it (multipart calls take object keys). */
  private dataObject(id: string): string {
    return this.bucket.key(this.dataKey(id));
  }

  private segmentKey(id: string, generation: number): string {
    return layout.uploadObject(id, `tail-${generation}`);
  }
}

function sizeOf(state: SessionState): number {
  return state.parts.reduce((total, part) => total + part.size, 0) + tailSize(state);
}

function tailSize(state: SessionState): number {
  return state.tail.reduce((total, segment) => total + segment.size, 0);
}

function parseState(state: UploadStorageState): SessionState {
  if (state === undefined) return EMPTY;
  const parsed = JSON.parse(state) as Partial<SessionState>;
  if (!Array.isArray(parsed.parts) || typeof parsed.generation !== 'number' || !Array.isArray(parsed.tail)) {
    throw new Error('not an S3 upload state');
  }
  return parsed as SessionState;
}
