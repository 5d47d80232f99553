import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ObjectNotFoundError, type StorageDriver } from '../../src/storage/driver.js';
import { FilesystemDriver } from '../../src/storage/filesystem-driver.js';
import { createS3Storage } from '../../src/storage/s3/index.js';
import { startCeph, type RunningCeph } from '../support/ceph.js';
import { s3Config } from '../support/s3-config.js';

/**
 * The suite every storage driver passes. A new backend is done when it passes this unchanged.
 */
interface DriverFactory {
  name: string;
  create(): Promise<{ driver: StorageDriver; dispose(): Promise<void> }>;
}

async function filesystem() {
  const root = await mkdtemp(join(tmpdir(), 'berth-driver-'));
  return { driver: new FilesystemDriver(root), dispose: () => rm(root, { recursive: true, force: true }) };
}

/** One Ceph for the whole file, a bucket per suite. */
let ceph: RunningCeph | undefined;
after(() => ceph?.stop());

const factories: DriverFactory[] = [
  { name: 'filesystem', create: filesystem },
  {
    name: 'Ceph RGW (S3)',
    async create() {
      ceph ??= await startCeph();
      // A low copy threshold sends the suite's larger copies through multipart UploadPartCopy.
      const storage = createS3Storage(s3Config(ceph, await ceph.createBucket(), { multipartCopyThresholdSize: 1024 * 1024 }));
      return { driver: storage.driver, dispose: async () => storage.close() };
    },
  },
];

async function text(stream: Readable): Promise<string> {
  let result = '';
  for await (const chunk of stream) result += (chunk as Buffer).toString();
  return result;
}

for (const factory of factories) {
  describe(`StorageDriver contract: ${factory.name}`, () => {
    let driver: StorageDriver;
    let dispose: () => Promise<void>;
    before(async () => ({ driver, dispose } = await factory.create()));
    after(() => dispose());

    it('when an object is written atomically, then stat and read see it whole', async () => {
      await driver.writeAtomic('v1/a/object', Buffer.from('content'));
      assert.equal((await driver.stat('v1/a/object'))?.size, 7);
      assert.equal(await text(await driver.read('v1/a/object')), 'content');
      assert.equal(await text(await driver.read('v1/a/object', { start: 2, end: 4 })), 'nte');
      await driver.writeAtomic('v1/a/object', Buffer.from('replaced'));
      assert.equal(await text(await driver.read('v1/a/object')), 'replaced');
    });

    it('when an object is opened for sending, then pipeTo writes exactly the range, across many buffers, and ends the destination', async () => {
      const content = Buffer.alloc(3 * 1024 * 1024 + 123);
      for (let i = 0; i < content.length; i += 1) content[i] = (i * 7) % 251;
      await driver.writeAtomic('v1/send/big', content);
      const collect = async (range?: { start: number; end: number }) => {
        const sink = new PassThrough();
        const chunks: Buffer[] = [];
        sink.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
        const ended = new Promise((resolve) => sink.on('end', resolve));
        await (await driver.open('v1/send/big', range)).pipeTo(sink);
        await ended;
        return Buffer.concat(chunks);
      };
      assert.ok((await collect()).equals(content));
      assert.ok((await collect({ start: 1000, end: 2 * 1024 * 1024 })).equals(content.subarray(1000, 2 * 1024 * 1024 + 1)));
      await assert.rejects(driver.open('v1/send/missing'), ObjectNotFoundError);
    });

    it('when the destination fails or the signal aborts mid-send, then pipeTo rejects instead of hanging', async () => {
      await driver.writeAtomic('v1/send/abort', Buffer.alloc(4 * 1024 * 1024, 1));
      let writes = 0;
      const failing = new Writable({
        write(_chunk, _encoding, callback) {
          writes += 1;
          callback(writes === 2 ? new Error('peer went away') : null);
        },
      });
      failing.on('error', () => undefined);
      await assert.rejects((await driver.open('v1/send/abort')).pipeTo(failing), /peer went away|closed/);
      const controller = new AbortController();
      const slow = new Writable({
        highWaterMark: 1,
        write(_chunk, _encoding, callback) {
          controller.abort();
          setTimeout(callback, 5);
        },
      });
      await assert.rejects((await driver.open('v1/send/abort')).pipeTo(slow, controller.signal), /closed|aborted/);
    });

    it('when an object is missing, then stat is undefined, read throws ObjectNotFoundError, delete is a no-op', async () => {
      assert.equal(await driver.stat('v1/missing'), undefined);
      await assert.rejects(driver.read('v1/missing'), ObjectNotFoundError);
      await driver.delete('v1/missing');
    });

    it('when an object is copied, then both keys hold its bytes, an existing target is kept, and a missing source is reported', async () => {
      await driver.writeAtomic('v1/c/from', Buffer.from('shared'));
      await driver.copy('v1/c/from', 'v1/c/deep/to');
      assert.equal(await text(await driver.read('v1/c/from')), 'shared');
      assert.equal(await text(await driver.read('v1/c/deep/to')), 'shared');
      await driver.copy('v1/c/from', 'v1/c/deep/to');
      assert.equal(await text(await driver.read('v1/c/deep/to')), 'shared');
      await assert.rejects(driver.copy('v1/c/nothing', 'v1/c/else'), ObjectNotFoundError);
      assert.equal(await driver.stat('v1/c/else'), undefined);
    });

    it('when listing a prefix, then every object below it is returned and nothing else', async () => {
      await driver.writeAtomic('v1/list/a/1', Buffer.from('1'));
      await driver.writeAtomic('v1/list/b/2', Buffer.from('2'));
      await driver.writeAtomic('v1/other/3', Buffer.from('3'));
      const listed: { key: string; size: number }[] = [];
      for await (const { key, size, modifiedAt } of driver.list('v1/list/')) {
        listed.push({ key, size });
        assert.ok(Math.abs(modifiedAt.getTime() - Date.now()) < 10 * 60_000, `${key} modified at ${modifiedAt.toISOString()}`);
      }
      assert.deepEqual(listed.sort((a, b) => a.key.localeCompare(b.key)), [{ key: 'v1/list/a/1', size: 1 }, { key: 'v1/list/b/2', size: 1 }]);
      const none: string[] = [];
      for await (const { key } of driver.list('v1/nothing-here/')) none.push(key);
      assert.deepEqual(none, []);
      const notAPrefixOfAName: string[] = [];
      for await (const { key } of driver.list('v1/lis')) notAPrefixOfAName.push(key);
      assert.deepEqual(notAPrefixOfAName, []);
    });

    it('when more objects exist than one listing page holds, then list returns each once, and deleteMany (where offered) removes them', async () => {
      const keys = Array.from({ length: 1234 }, (_, i) => `v1/many/${String(i).padStart(4, '0')}`);
      for (let i = 0; i < keys.length; i += 64) await Promise.all(keys.slice(i, i + 64).map((key) => driver.writeAtomic(key, Buffer.from(key))));
      const listed: string[] = [];
      for await (const { key } of driver.list('v1/many/')) listed.push(key);
      assert.deepEqual(listed.sort(), keys);
      if (driver.deleteMany) await driver.deleteMany([...keys, 'v1/many/never-written']);
      else for (const key of keys) await driver.delete(key);
      const left: string[] = [];
      for await (const { key } of driver.list('v1/many/')) left.push(key);
      assert.deepEqual(left, []);
    });

    it('when a large object is copied, then the copy holds every byte in order', async () => {
      const content = Buffer.alloc(40 * 1024 * 1024 + 7);
      for (let i = 0; i < content.length; i += 4096) content.writeUInt32BE(i, i);
      await driver.writeAtomic('v1/c/large', content);
      await driver.copy('v1/c/large', 'v1/c/large-copy');
      assert.equal((await driver.stat('v1/c/large-copy'))?.size, content.length);
      const chunks: Buffer[] = [];
      for await (const chunk of await driver.read('v1/c/large-copy')) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(content));
    });

    it('when a key tries to leave the root, then the driver refuses it', async () => {
      for (const key of ['../escape', 'v1/../../escape', '/etc/passwd', 'v1//x', 'v1/./x']) {
        await assert.rejects(driver.writeAtomic(key, Buffer.from('x')), /outside the root/, key);
        await assert.rejects(driver.read(key), /outside the root/, key);
      }
    });
  });
}
