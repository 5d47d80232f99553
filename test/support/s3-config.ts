import type { S3StorageConfig } from '../../src/config/config.js';
import type { RunningCeph } from './ceph.js';

/** `storage.s3` for a bucket on the test's Ceph, with registry:2's defaults unless overridden. */
export function s3Config(ceph: RunningCeph, bucket: string, overrides: Partial<S3StorageConfig> = {}): S3StorageConfig {
  return {
    kind: 's3',
    region: ceph.region,
    endpoint: ceph.endpoint,
    bucket,
    credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey },
    forcePathStyle: true,
    rootDirectory: 'berth',
    chunkSize: 10 * 1024 * 1024,
    multipartCopyThresholdSize: 32 * 1024 * 1024,
    encrypt: false,
    skipVerify: false,
    ...overrides,
  };
}
