import type { S3StorageConfig } from '../../config/config.js';
import { S3Bucket } from './bucket.js';
import { S3Driver } from './s3-driver.js';
import { S3UploadStorage } from './s3-upload-storage.js';

export interface S3Storage {
  driver: S3Driver;
  uploads: S3UploadStorage;
  /** Closes the client's sockets. */
  close(): void;
}

/** Both halves of S3 storage on one client (one connection pool). */
export function createS3Storage(config: S3StorageConfig): S3Storage {
  const bucket = new S3Bucket(config);
  return { driver: new S3Driver(bucket), uploads: new S3UploadStorage(bucket), close: () => bucket.destroy() };
}
