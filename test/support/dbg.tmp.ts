import { randomBytes } from 'node:crypto';
import { startCeph } from './ceph.js';
import { s3Config } from './s3-config.js';
import { S3Bucket } from '../../src/storage/s3/bucket.js';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, HeadObjectCommand, UploadPartCommand, ListPartsCommand } from '@aws-sdk/client-s3';
const ceph = await startCeph();
try {
  const config = s3Config(ceph, await ceph.createBucket(), { chunkSize: 5 * 1024 * 1024 });
  const b = new S3Bucket(config);
  for (const key of ['a/b/data', 'plain', 'berth/v1/uploads/x/data', 'again']) {
    const { UploadId } = await b.client.send(new CreateMultipartUploadCommand({ Bucket: config.bucket, Key: key }));
    const body = randomBytes(5 * 1024 * 1024);
    const { ETag } = await b.client.send(new UploadPartCommand({ Bucket: config.bucket, Key: key, UploadId, PartNumber: 1, Body: body, ContentLength: body.length }));
    const lp = await b.client.send(new ListPartsCommand({ Bucket: config.bucket, Key: key, UploadId })).catch((e) => e.name);
    console.log(key, 'parts', (lp as any).Parts?.length ?? lp);
    const out = await b.client.send(new CompleteMultipartUploadCommand({ Bucket: config.bucket, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } })).then(() => 'ok', (e) => e.message);
    console.log(key, 'complete', out, await b.client.send(new HeadObjectCommand({ Bucket: config.bucket, Key: key })).then((h) => h.ContentLength, (e) => e.name));
  }
} finally { await ceph.stop(); }
