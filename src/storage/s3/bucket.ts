import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type ServerSideEncryption } from '@aws-sdk/client-s3';
import type { S3StorageConfig } from '../../config/config.js';

/** Concurrent requests to the object store per process: every blob GET, PATCH and commit holds one. */
const MAX_SOCKETS = 256;

/**
 * The bucket and key prefix Berth's objects live under, and the one S3 client they are reached
 * with. Shared by the driver and the upload storage so both map keys the same way.
 */
export class S3Bucket {
  readonly client: S3Client;
  readonly name: string;
  /** '' or `<rootdirectory>/`. */
  private readonly prefix: string;
  /** Sent on every write when `encrypt` is on. */
  readonly encryption: { ServerSideEncryption?: ServerSideEncryption };

  constructor(readonly config: S3StorageConfig) {
    this.name = config.bucket;
    this.prefix = config.rootDirectory === '' ? '' : `${config.rootDirectory}/`;
    this.encryption = config.encrypt ? { ServerSideEncryption: 'AES256' } : {};
    this.client = new S3Client({
      region: config.region,
      ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle,
      ...(config.credentials ? { credentials: config.credentials } : {}),
      // Since 3.729 the SDK sends streamed bodies aws-chunked with a trailing CRC32 by default;
      // Ceph RGW 16 (and other S3-compatible stores) drop the connection on it.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, rejectUnauthorized: !config.skipVerify }),
      },
    });
  }

  /** The object key of a storage key (which `layout.ts` built). */
  key(storageKey: string): string {
    return this.prefix + storageKey;
  }

  /** The storage key of an object key listed under the prefix. */
  storageKey(objectKey: string): string {
    return objectKey.slice(this.prefix.length);
  }

  /** `CopySource`: bucket and key, each path segment URL-encoded. */
  copySource(storageKey: string): string {
    return `${this.name}/${this.key(storageKey).split('/').map(encodeURIComponent).join('/')}`;
  }

  describe(): string {
    return `s3 bucket ${this.name}${this.prefix === '' ? '' : ` under ${this.prefix}`}${this.config.endpoint ? ` at ${this.config.endpoint}` : ` in ${this.config.region}`}`;
  }

  destroy(): void {
    this.client.destroy();
  }
}

/** A missing object (HEAD answers a bare 404, GET `NoSuchKey`). */
export function isNotFound(error: unknown): boolean {
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'NoSuchKey' || name === 'NotFound' || $metadata?.httpStatusCode === 404;
}

/** A multipart upload that no longer exists (RGW answers `NoSuchKey` where AWS says `NoSuchUpload`). */
export function isNoSuchUpload(error: unknown): boolean {
  const { name } = error as { name?: string };
  return name === 'NoSuchUpload' || isNotFound(error);
}
