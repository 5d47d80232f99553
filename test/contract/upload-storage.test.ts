import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { S3StorageConfig } from '../../src/config/config.js';
import { FilesystemDriver } from '../../src/storage/filesystem-driver.js';
import { FilesystemUploadStorage } from '../../src/storage/filesystem-uploads.js';
import { S3Bucket } from '../../src/storage/s3/bucket.js';
import { createS3Storage } from '../../src/storage/s3/index.js';
import { startCeph, type RunningCeph } from '../support/ceph.js';
import { s3Config } from '../support/s3-config.js';
import { uploadStorageSuite } from './upload-storage-suite.js';

let ceph: RunningCeph | undefined;
let config: S3StorageConfig | undefined;
after(() => ceph?.stop());

uploadStorageSuite({
  name: 'filesystem',
  async open() {
    const root = await mkdtemp(join(tmpdir(), 'berth-uploads-'));
    return {
      replica: () => new FilesystemUploadStorage(root),
      blobs: new FilesystemDriver(root),
      readsEverySession: true,
      dispose: () => rm(root, { recursive: true, force: true }),
    };
  },
});

uploadStorageSuite({
  name: 'Ceph RGW (S3 multipart)',
  async open() {
    ceph ??= await startCeph();
    // 5 MiB parts (the least S3 allows) so the suite's chunks cross several part boundaries.
    const bucketConfig = (config = s3Config(ceph, await ceph.createBucket(), { chunkSize: 5 * 1024 * 1024 }));
    const replicas: ReturnType<typeof createS3Storage>[] = [];
    const replica = () => {
      const storage = createS3Storage(bucketConfig);
      replicas.push(storage);
      return storage;
    };
    const blobs = replica().driver;
    return {
      replica: () => replica().uploads,
      blobs,
      readsEverySession: false,
      dispose: async () => replicas.forEach((storage) => storage.close()),
    };
  },
});

describe('S3 upload storage: keys', () => {
  it('when the suite has run, then every object and multipart upload it made is under the root directory', async () => {
    const bucket = new S3Bucket(config!);
    try {
      const objects = await bucket.client.send(new ListObjectsV2Command({ Bucket: bucket.name }));
      const uploads = await bucket.client.send(new ListMultipartUploadsCommand({ Bucket: bucket.name }));
      const keys = [...(objects.Contents ?? []), ...(uploads.Uploads ?? [])].map((entry) => entry.Key ?? '');
      assert.ok(keys.length > 0, 'the suite stored blobs');
      assert.deepEqual(keys.filter((key) => !key.startsWith(`${config!.rootDirectory}/`)), []);
    } finally {
      bucket.destroy();
    }
  });
});
