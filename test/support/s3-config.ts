import type { PoolConfig } from 'pg';
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

/** config.yml's `storage.s3` (registry:2's keys, read by Berth and Distribution alike) for a bucket on the test's Ceph. */
export function s3Section(ceph: RunningCeph, bucket: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    region: ceph.region,
    regionendpoint: ceph.endpoint,
    bucket,
    accesskey: ceph.accessKey,
    secretkey: ceph.secretKey,
    forcepathstyle: true,
    rootdirectory: '/berth',
    ...overrides,
  };
}

/**
 * config.yml's `storage.s3` and `database` (GitLab's keys) for a Berth on the test's Ceph bucket
 * and PostgreSQL database: what makes `berth serve` a replica.
 */
export function replicaSections(ceph: RunningCeph, bucket: string, database: PoolConfig, s3: Record<string, unknown> = {}): { s3: Record<string, unknown>; database: Record<string, unknown> } {
  return {
    s3: s3Section(ceph, bucket, s3),
    database: { enabled: true, host: database.host, port: database.port, user: database.user, dbname: database.database },
  };
}
