import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, startWithClient, type TestRegistry } from '../support/in-process.js';
import { OciClient, errorCode, sha256 } from '../support/oci-client.js';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { INLINE_BLOB_MAX_BYTES } from '../../src/storage/blob-store.js';

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe('blobs and uploads', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => ({ registry, client } = await startWithClient()));
  after(() => registry.destroy());

  it('when a blob is pushed monolithically, then GET and HEAD return it with digest, length and ETag', async () => {
    const content = 'hello, berth';
    const digest = await client.pushBlob('mono', content);
    const head = await client.request(`/v2/mono/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(content)));
    assert.equal(head.headers.get('docker-content-digest'), digest);
    assert.equal(head.headers.get('etag'), `"${digest}"`);
    const get = await client.request(`/v2/mono/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), content);
    const cached = await client.request(`/v2/mono/blobs/${digest}`, { headers: { 'If-None-Match': `"${digest}"` } });
    assert.equal(cached.status, 304);
  });

  it('when a blob is uploaded in chunks with Content-Range, then status tracks the offset and PUT commits it', async () => {
    const parts = ['first-chunk;', 'second-chunk;', 'last'];
    const whole = parts.join('');
    const location = await client.startUpload('chunked');
    const uuid = location.split('/').at(-1)!;
    let offset = 0;
    let next = location;
    for (const part of parts.slice(0, 2)) {
      const response = await client.request(next, {
        method: 'PATCH',
        body: part,
        headers: { 'Content-Range': `${offset}-${offset + part.length - 1}`, 'Content-Type': 'application/octet-stream' },
      });
      assert.equal(response.status, 202, await response.text());
      offset += part.length;
      assert.equal(response.headers.get('range'), `0-${offset - 1}`);
      assert.equal(response.headers.get('docker-upload-uuid'), uuid);
      next = response.headers.get('location')!;
    }
    const status = await client.request(next);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${offset - 1}`);
    const digest = sha256(whole);
    const put = await client.request(`${next}?digest=${digest}`, { method: 'PUT', body: parts[2] });
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('location'), `/v2/chunked/blobs/${digest}`);
    assert.equal(put.headers.get('docker-content-digest'), digest);
    assert.equal(await (await client.request(`/v2/chunked/blobs/${digest}`)).text(), whole);
    const gone = await client.request(next);
    assert.equal(gone.status, 404);
    assert.equal(await errorCode(gone), 'BLOB_UPLOAD_UNKNOWN');
  });

  it('when a chunk arrives out of order, then it is 416 and the upload keeps its data', async () => {
    const location = await client.startUpload('ooo');
    const first = await client.request(location, { method: 'PATCH', body: 'abc', headers: { 'Content-Range': '0-2' } });
    assert.equal(first.status, 202);
    const skipped = await client.request(location, { method: 'PATCH', body: 'xyz', headers: { 'Content-Range': '10-12' } });
    assert.equal(skipped.status, 416);
    assert.equal(await errorCode(skipped), 'RANGE_INVALID');
    const overlapping = await client.request(location, { method: 'PATCH', body: 'xyz', headers: { 'Content-Range': '0-2' } });
    assert.equal(overlapping.status, 416);
    const malformed = await client.request(location, { method: 'PATCH', body: 'xyz', headers: { 'Content-Range': 'three-five' } });
    assert.equal(malformed.status, 416);
    const mismatched = await client.request(location, { method: 'PATCH', body: 'xyz', headers: { 'Content-Range': '3-9' } });
    assert.equal(mismatched.status, 400);
    assert.equal(await errorCode(mismatched), 'SIZE_INVALID');
    const status = await client.request(location);
    assert.equal(status.headers.get('range'), '0-2');
    const put = await client.request(`${location}?digest=${sha256('abcdef')}`, { method: 'PUT', body: 'def' });
    assert.equal(put.status, 201, await put.text());
  });

  it('when streamed PATCHes come without Content-Range, then they append', async () => {
    const location = await client.startUpload('stream');
    for (const part of ['one', 'two']) {
      assert.equal((await client.request(location, { method: 'PATCH', body: part })).status, 202);
    }
    const put = await client.request(`${location}?digest=${sha256('onetwo')}`, { method: 'PUT' });
    assert.equal(put.status, 201);
  });

  it('when the digest does not match, then DIGEST_INVALID is returned and nothing is stored', async () => {
    const before = await listFiles(join(registry.dataDir, 'storage', 'v1', 'blobs'));
    const wrong = sha256('something else');
    const mono = await client.request(`/v2/bad/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: 'actual content' });
    assert.equal(mono.status, 400);
    assert.equal(await errorCode(mono), 'DIGEST_INVALID');
    const location = await client.startUpload('bad');
    await client.request(location, { method: 'PATCH', body: 'actual content' });
    const put = await client.request(`${location}?digest=${wrong}`, { method: 'PUT' });
    assert.equal(put.status, 400);
    assert.equal(await errorCode(put), 'DIGEST_INVALID');
    assert.equal((await client.request(`/v2/bad/blobs/${wrong}`, { method: 'HEAD' })).status, 404);
    assert.equal((await client.request(`/v2/bad/blobs/${sha256('actual content')}`, { method: 'HEAD' })).status, 404);
    assert.deepEqual(await listFiles(join(registry.dataDir, 'storage', 'v1', 'blobs')), before);
    assert.deepEqual(await listFiles(join(registry.dataDir, 'storage', 'v1', 'uploads')), []);
  });

  it('when PUT lacks the digest parameter or carries a malformed one, then it is DIGEST_INVALID and the upload survives', async () => {
    const location = await client.startUpload('nodigest');
    const missing = await client.request(location, { method: 'PUT', body: 'x' });
    assert.equal(missing.status, 400);
    assert.equal(await errorCode(missing), 'DIGEST_INVALID');
    const malformed = await client.request(`${location}?digest=sha256:zz`, { method: 'PUT' });
    assert.equal(await errorCode(malformed), 'DIGEST_INVALID');
    assert.equal((await client.request(location)).status, 204);
  });

  it('when a sha512 digest is used, then the blob is verified and stored under it', async () => {
    const content = 'sha512 content';
    const digest = `sha512:${createHash('sha512').update(content).digest('hex')}`;
    const location = await client.startUpload('sha512');
    await client.request(location, { method: 'PATCH', body: content });
    const put = await client.request(`${location}?digest=${digest}`, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.equal(await (await client.request(`/v2/sha512/blobs/${digest}`)).text(), content);
    const mono = await client.request(`/v2/sha512/blobs/uploads/?digest=${digest}`, { method: 'POST', body: content });
    assert.equal(mono.status, 201);
  });

  it('when an upload is cancelled, then it is gone and its data removed', async () => {
    const location = await client.startUpload('cancel');
    await client.request(location, { method: 'PATCH', body: 'data' });
    assert.equal((await client.request(location, { method: 'DELETE' })).status, 204);
    const after = await client.request(location);
    assert.equal(after.status, 404);
    assert.equal(await errorCode(after), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await client.request(location, { method: 'PATCH', body: 'more' })).status, 404);
  });

  it('when an upload id is unknown, malformed, or belongs to another repository, then it is BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await client.startUpload('owner');
    const uuid = location.split('/').at(-1)!;
    for (const path of [`/v2/other/blobs/uploads/${uuid}`, '/v2/owner/blobs/uploads/00000000-0000-4000-8000-000000000000', '/v2/owner/blobs/uploads/not-a-uuid', '/v2/owner/blobs/uploads/..%2F..%2Fetc']) {
      const response = await client.request(path);
      assert.equal(response.status, 404, path);
      assert.equal(await errorCode(response), 'BLOB_UPLOAD_UNKNOWN', path);
    }
  });

  it('when a blob is mounted from a repository that has it, then 201 and the blob is linked', async () => {
    const digest = await client.pushBlob('source', 'shared layer');
    const response = await client.request(`/v2/target/blobs/uploads/?mount=${digest}&from=source`, { method: 'POST' });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('location'), `/v2/target/blobs/${digest}`);
    assert.equal(response.headers.get('docker-content-digest'), digest);
    assert.equal(await (await client.request(`/v2/target/blobs/${digest}`)).text(), 'shared layer');
  });

  it('when a mount cannot be served, then 202 starts an ordinary upload', async () => {
    const digest = sha256('never pushed');
    for (const query of [`mount=${digest}&from=source`, `mount=${digest}`]) {
      const response = await client.request(`/v2/target2/blobs/uploads/?${query}`, { method: 'POST' });
      assert.equal(response.status, 202);
      assert.match(response.headers.get('location')!, /^\/v2\/target2\/blobs\/uploads\/[0-9a-f-]{36}$/);
    }
    const bad = await client.request(`/v2/target2/blobs/uploads/?mount=sha256:xyz&from=source`, { method: 'POST' });
    assert.equal(await errorCode(bad), 'DIGEST_INVALID');
    const badFrom = await client.request(`/v2/target2/blobs/uploads/?mount=${digest}&from=BAD`, { method: 'POST' });
    assert.equal(await errorCode(badFrom), 'NAME_INVALID');
  });

  it('when a blob exists in one repository only, then other repositories answer BLOB_UNKNOWN', async () => {
    const digest = await client.pushBlob('private-a', 'only in a');
    const response = await client.request(`/v2/private-b/blobs/${digest}`);
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'BLOB_UNKNOWN');
    const head = await client.request(`/v2/private-b/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.equal(await head.text(), '');
  });

  it('when ranges are requested, then 206 with Content-Range; unsatisfiable is 416 with Content-Range bytes */size; invalid or multi-range is ignored (200, whole body)', async () => {
    const content = '0123456789';
    const digest = await client.pushBlob('ranges', content);
    const cases: [string, string, string][] = [
      ['bytes=2-5', '2345', 'bytes 2-5/10'],
      ['bytes=7-', '789', 'bytes 7-9/10'],
      ['bytes=-3', '789', 'bytes 7-9/10'],
      ['bytes=8-100', '89', 'bytes 8-9/10'],
      ['BYTES=0-0', '0', 'bytes 0-0/10'],
      ['bytes=0-99999999999999999999', content, 'bytes 0-9/10'],
    ];
    for (const [range, body, contentRange] of cases) {
      const response = await client.request(`/v2/ranges/blobs/${digest}`, { headers: { Range: range } });
      assert.equal(response.status, 206, range);
      assert.equal(response.headers.get('content-range'), contentRange);
      assert.equal(await response.text(), body);
    }
    for (const range of ['bytes=10-', 'bytes=-0', 'bytes=99999999999999999999-']) {
      const response = await client.request(`/v2/ranges/blobs/${digest}`, { headers: { Range: range } });
      assert.equal(response.status, 416, range);
      assert.equal(response.headers.get('content-range'), 'bytes */10', range);
      assert.equal(await errorCode(response), 'RANGE_INVALID');
    }
    for (const range of ['bytes=5-2', 'bytes=abc', 'items=1-2', 'bytes=1-2,4-5', 'bytes=', 'bytes=-']) {
      const response = await client.request(`/v2/ranges/blobs/${digest}`, { headers: { Range: range } });
      assert.equal(response.status, 200, range);
      assert.equal(response.headers.get('content-range'), null, range);
      assert.equal(response.headers.get('content-length'), '10', range);
      assert.equal(await response.text(), content, range);
    }
  });

  it('when deletion is enabled, then DELETE unlinks the blob from that repository only', async () => {
    const digest = await client.pushBlob('del-a', 'to delete');
    await client.request(`/v2/del-b/blobs/uploads/?mount=${digest}&from=del-a`, { method: 'POST' });
    const response = await client.request(`/v2/del-a/blobs/${digest}`, { method: 'DELETE' });
    assert.equal(response.status, 202);
    assert.equal((await client.request(`/v2/del-a/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    assert.equal((await client.request(`/v2/del-b/blobs/${digest}`, { method: 'HEAD' })).status, 200);
    const again = await client.request(`/v2/del-a/blobs/${digest}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.equal(await errorCode(again), 'BLOB_UNKNOWN');
  });

  it('when the same content is pushed to two repositories, then storage holds it once', async () => {
    const content = `dedup ${Date.now()} ${'d'.repeat(INLINE_BLOB_MAX_BYTES)}`;
    const digest = await client.pushBlob('dedup-a', content);
    await client.pushBlob('dedup-b', content);
    const hex = digest.slice('sha256:'.length);
    const matches = (await listFiles(join(registry.dataDir, 'storage'))).filter((file) => file.endsWith(hex));
    assert.equal(matches.length, 1);
  });

  it('when small blobs are pushed (monolithic, chunked, as a manifest), then no file holds them and they are served whole and by range', async () => {
    const small = Buffer.from(`config ${Date.now()} ${'c'.repeat(INLINE_BLOB_MAX_BYTES - 100)}`);
    const monolithic = await client.pushBlob('inline', small);
    const chunked = Buffer.from(`chunked ${Date.now()}`);
    const location = await client.startUpload('inline');
    const patched = await client.request(location, { method: 'PATCH', body: chunked, headers: { 'Content-Range': `0-${chunked.length - 1}` } });
    assert.equal(patched.status, 202);
    const put = await client.request(`${patched.headers.get('location')}${patched.headers.get('location')!.includes('?') ? '&' : '?'}digest=${sha256(chunked)}`, { method: 'PUT' });
    assert.equal(put.status, 201);
    const image = await client.pushImage('inline', 'v1', ['inline-layer']);

    const files = await listFiles(join(registry.dataDir, 'storage'));
    for (const digest of [monolithic, sha256(chunked), image.digest]) {
      assert.ok(!files.some((file) => file.endsWith(digest.slice('sha256:'.length))), `no file holds ${digest}`);
    }
    const uploadId = /uploads\/([0-9a-f-]{36})/.exec(location)![1]!;
    assert.ok(!files.some((file) => file.includes(uploadId)), 'the chunked upload left no data file behind');
    const whole = await client.request(`/v2/inline/blobs/${monolithic}`);
    assert.equal(whole.status, 200);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(small));
    const range = await client.request(`/v2/inline/blobs/${monolithic}`, { headers: { Range: 'bytes=7-12' } });
    assert.equal(range.status, 206);
    assert.equal(range.headers.get('content-range'), `bytes 7-12/${small.length}`);
    assert.equal(await range.text(), small.subarray(7, 13).toString());
    assert.equal(await (await client.request(`/v2/inline/blobs/${sha256(chunked)}`)).text(), chunked.toString());
    const manifest = await client.request('/v2/inline/manifests/v1', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.ok(Buffer.from(await manifest.arrayBuffer()).equals(image.body));
  });

  it('when a zero-length blob is pushed, then it is stored and served', async () => {
    const digest = await client.pushBlob('empty', '');
    const response = await client.request(`/v2/empty/blobs/${digest}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), '0');
    assert.equal(await response.text(), '');
  });
});

describe('blob deletion when storage.delete.enabled is false', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => ({ registry, client } = await startWithClient({ storage: { delete: { enabled: false } } })));
  after(() => registry.destroy());

  it('when a blob or manifest is deleted, then 405 UNSUPPORTED and the content stays', async () => {
    const { digest } = await client.pushImage('keep', 'v1');
    const layer = await client.pushBlob('keep', 'layer-a');
    for (const path of [`/v2/keep/blobs/${layer}`, `/v2/keep/manifests/${digest}`, '/v2/keep/manifests/v1']) {
      const response = await client.request(path, { method: 'DELETE' });
      assert.equal(response.status, 405, path);
      assert.equal(await errorCode(response), 'UNSUPPORTED');
    }
    assert.equal((await client.request('/v2/keep/manifests/v1')).status, 200);
    assert.equal((await client.request(`/v2/keep/blobs/${layer}`)).status, 200);
  });
});

describe('upload sessions across a restart', () => {
  it('when the registry restarts mid-upload, then the session resumes from its recorded offset', async () => {
    const first = await startInProcess();
    const client = new OciClient(first.url);
    const location = await client.startUpload('resume');
    assert.equal((await client.request(location, { method: 'PATCH', body: 'before-restart;', headers: { 'Content-Range': '0-14' } })).status, 202);
    await first.close();

    const second = await startInProcess({}, first.dataDir);
    try {
      const resumed = new OciClient(second.url);
      const status = await resumed.request(location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-14');
      assert.equal((await resumed.request(location, { method: 'PATCH', body: 'after', headers: { 'Content-Range': '15-19' } })).status, 202);
      const digest = sha256('before-restart;after');
      const put = await resumed.request(`${location}?digest=${digest}`, { method: 'PUT' });
      assert.equal(put.status, 201, await put.text());
      assert.equal(await (await resumed.request(`/v2/resume/blobs/${digest}`)).text(), 'before-restart;after');
    } finally {
      await second.destroy();
    }
  });

  it('when a session is started, then it is recorded only when its first chunk arrives, and a restart before that forgets it', async () => {
    const first = await startInProcess();
    const client = new OciClient(first.url);
    const database = new Database(join(first.dataDir, 'storage', 'berth.sqlite'), { readonly: true });
    const sessions = () => (database.prepare('SELECT count(*) AS n FROM uploads').get() as { n: number }).n;
    try {
      const whole = await client.startUpload('lazy');
      const chunked = await client.startUpload('lazy');
      const empty = await client.startUpload('lazy');
      assert.equal(sessions(), 0, 'no row for sessions that hold no byte');
      assert.equal((await client.request(empty)).status, 204, 'an unrecorded session still answers its status');

      assert.equal((await client.request(`${whole}?digest=${sha256('in one go')}`, { method: 'PUT', body: 'in one go' })).status, 201);
      assert.equal((await client.request(chunked, { method: 'PATCH', body: 'chunk', headers: { 'Content-Range': '0-4' } })).status, 202);
      assert.equal(sessions(), 1, 'the chunked session is recorded, the finished one never was');
      await first.close();

      const second = await startInProcess({}, first.dataDir);
      try {
        const resumed = new OciClient(second.url);
        assert.equal((await resumed.request(chunked)).headers.get('range'), '0-4');
        const forgotten = await resumed.request(`${empty}?digest=${sha256('')}`, { method: 'PUT' });
        assert.equal(forgotten.status, 404);
        assert.equal(await errorCode(forgotten), 'BLOB_UPLOAD_UNKNOWN');
      } finally {
        await second.close();
      }
    } finally {
      database.close();
      await first.destroy();
    }
  });
});
