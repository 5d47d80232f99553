import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ByteRange } from '../../oci/ranges.js';
import { ObjectNotFoundError, assertKeyInsideRoot, type ListedObject, type ObjectReader, type StorageDriver, type StoredObject } from '../driver.js';
import { isNotFound, type S3Bucket } from './bucket.js';

/** DeleteObjects takes at most this many keys per call. */
const DELETE_BATCH = 1000;
/** registry:2's `multipartcopychunksize` and `multipartcopymaxconcurrency` defaults (32 MiB, a few at once). */
const COPY_PART_SIZE = 32 * 1024 * 1024;
const COPY_CONCURRENCY = 8;
/** S3's limit on one CopyObject request. */
export const MAX_COPY_OBJECT = 5 * 1024 * 1024 * 1024;
/** S3's limit on parts per multipart upload. */
const MAX_PARTS = 10_000;

/**
 * `StorageDriver` on an S3-compatible bucket. Bodies stream through (GETs are piped, never
 * collected); only `writeAtomic`'s small objects are sent from memory.
 */
export class S3Driver implements StorageDriver {
  readonly description: string;

  constructor(private readonly bucket: S3Bucket) {
    this.description = bucket.describe();
  }

  private key(key: string): string {
    assertKeyInsideRoot(key);
    return this.bucket.key(key);
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const head = await this.bucket.client.send(new HeadObjectCommand({ Bucket: this.bucket.name, Key: this.key(key) }));
      return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    return this.get(key, range);
  }

  /** The GET is answered (headers in) before this resolves, so a missing object fails before the caller responds. */
  async open(key: string, range?: ByteRange): Promise<ObjectReader> {
    const body = await this.get(key, range);
    return {
      pipeTo: async (destination, signal) => {
        await pipeline(body, destination, ...(signal ? [{ signal }] : []));
      },
    };
  }

  private async get(key: string, range: ByteRange | undefined): Promise<Readable> {
    try {
      const response = await this.bucket.client.send(
        new GetObjectCommand({ Bucket: this.bucket.name, Key: this.key(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      // In Node the SDK's body is the HTTP response itself: a Readable.
      return response.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  /** A PUT is atomic in S3: readers see the old object or the new one, never a part. */
  async writeAtomic(key: string, data: Buffer): Promise<void> {
    await this.bucket.client.send(
      new PutObjectCommand({ Bucket: this.bucket.name, Key: this.key(key), Body: data, ContentLength: data.length, ...this.bucket.encryption }),
    );
  }

  async copy(from: string, to: string): Promise<void> {
    await this.copyWithin(from, to, this.bucket.config.multipartCopyThresholdSize);
  }

  /** `copy`, with one CopyObject request up to `singleRequestLimit` bytes and parts copied in parallel above. */
  async copyWithin(from: string, to: string, singleRequestLimit: number): Promise<void> {
    if (await this.stat(to)) return;
    const source = await this.stat(from);
    if (!source) throw new ObjectNotFoundError(from);
    if (source.size <= Math.min(singleRequestLimit, MAX_COPY_OBJECT)) {
      await this.bucket.client.send(
        new CopyObjectCommand({ Bucket: this.bucket.name, Key: this.key(to), CopySource: this.bucket.copySource(from), ...this.bucket.encryption }),
      );
    } else {
      await this.multipartCopy(from, to, source.size);
    }
  }

  /** Parts copied server-side, several at a time (a single CopyObject stops at 5 GiB and runs serially). */
  private async multipartCopy(from: string, to: string, size: number): Promise<void> {
    const { client, name } = this.bucket;
    const Key = this.key(to);
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: name, Key, ...this.bucket.encryption }));
    try {
      const partSize = Math.max(COPY_PART_SIZE, Math.ceil(size / MAX_PARTS));
      const count = Math.ceil(size / partSize);
      const parts: CompletedPart[] = new Array(count);
      let next = 0;
      const worker = async () => {
        for (let index = next++; index < count; index = next++) {
          const start = index * partSize;
          const end = Math.min(size, start + partSize) - 1;
          const { CopyPartResult } = await client.send(
            new UploadPartCopyCommand({ Bucket: name, Key, UploadId, PartNumber: index + 1, CopySource: this.bucket.copySource(from), CopySourceRange: `bytes=${start}-${end}` }),
          );
          parts[index] = { PartNumber: index + 1, ETag: CopyPartResult?.ETag };
        }
      };
      await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, count) }, worker));
      await client.send(new CompleteMultipartUploadCommand({ Bucket: name, Key, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (error) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: name, Key, UploadId })).catch(() => undefined);
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.bucket.client.send(new DeleteObjectCommand({ Bucket: this.bucket.name, Key: this.key(key) }));
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += DELETE_BATCH) {
      const batch = keys.slice(start, start + DELETE_BATCH);
      const result = await this.bucket.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket.name, Delete: { Quiet: true, Objects: batch.map((key) => ({ Key: this.key(key) })) } }),
      );
      const failed = (result.Errors ?? []).filter((failure) => failure.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`could not delete ${failed.length} objects, the first ${failed[0]!.Key}: ${failed[0]!.Code} ${failed[0]!.Message ?? ''}`);
    }
  }

  /** A prefix names a directory of the layout, as on the filesystem: `v1/x` does not list `v1/xy/…`. */
  async *list(prefix: string): AsyncIterable<ListedObject> {
    const directory = prefix.endsWith('/') ? prefix : `${prefix}/`;
    let token: string | undefined;
    do {
      const page = await this.bucket.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket.name, Prefix: this.bucket.key(directory), ...(token ? { ContinuationToken: token } : {}) }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { key: this.bucket.storageKey(object.Key), size: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Signed for a plain GET: a client's Range header still applies (it is not a signed header). */
  presignGet(key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.bucket.client, new GetObjectCommand({ Bucket: this.bucket.name, Key: this.key(key) }), { expiresIn: expiresInSeconds });
  }
}
