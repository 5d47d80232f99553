import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { handlerOf } from '../../src/http/metrics.js';
import { OciClient } from '../support/oci-client.js';
import { startInProcess, type TestRegistry } from '../support/in-process.js';

/** The sample's value for a metric whose labels include all of `labels` (in any order). */
function sample(exposition: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of exposition.split('\n')) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = new Map([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1]!, pair[2]!]));
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}

describe('metrics and health on the debug listener', () => {
  let registry: TestRegistry;
  let client: OciClient;
  const scrape = async () => {
    const response = await fetch(`${registry.debugUrl}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    return response.text();
  };

  before(async () => {
    registry = await startInProcess({
      http: { debug: { addr: '127.0.0.1:0', prometheus: { enabled: true, path: '/metrics' } } },
      policies: [{ match: 'metered/*', quota: { limit: '1MiB' } }],
    });
    client = new OciClient(registry.url);
  });
  after(() => registry.destroy());

  it('when a client pushes and pulls, then the scrape shows registry:2 names and labels with the counts', async () => {
    const { digest } = await client.pushImage('metered/app', 'v1');
    const before = sample(await scrape(), 'registry_http_requests_total', { handler: 'manifest', code: '200', method: 'get' }) ?? 0;
    for (let i = 0; i < 3; i += 1) assert.equal((await client.request(`/v2/metered/app/manifests/${digest}`)).status, 200);
    assert.equal((await client.request('/v2/metered/app/manifests/missing')).status, 404);
    const text = await scrape();
    assert.equal(sample(text, 'registry_http_requests_total', { handler: 'manifest', code: '200', method: 'get' }), before + 3);
    assert.equal(sample(text, 'registry_http_requests_total', { handler: 'manifest', code: '404', method: 'get' }), 1);
    assert.equal(sample(text, 'registry_http_requests_total', { handler: 'manifest', code: '201', method: 'put' }), 1);
    assert.equal(sample(text, 'registry_http_requests_total', { handler: 'blob_upload', code: '201', method: 'post' }), 3);
    assert.equal(sample(text, 'registry_http_request_duration_seconds_count', { handler: 'manifest', method: 'get' }), before + 4);
    assert.equal(sample(text, 'registry_http_request_duration_seconds_bucket', { handler: 'manifest', method: 'get', le: '60' }), before + 4);
    assert.ok((sample(text, 'registry_http_request_size_bytes_sum', { handler: 'manifest' }) ?? 0) > 0);
    assert.ok((sample(text, 'registry_http_response_size_bytes_sum', { handler: 'manifest' }) ?? 0) > 0);
    assert.equal(sample(text, 'registry_http_in_flight_requests', { handler: 'manifest' }), 0);
    assert.ok((sample(text, 'berth_repository_usage_bytes', { repository: 'metered/app' }) ?? 0) > 0);
    assert.equal(sample(text, 'berth_repository_quota_bytes', { repository: 'metered/app' }), 1024 * 1024);
    assert.equal(sample(text, 'berth_uploads_in_progress', {}), 0);
    assert.ok((sample(text, 'registry_storage_action_seconds_count', { driver: 'filesystem', action: 'Writer' }) ?? 0) >= 3, 'each blob push wrote through the timed driver');
  });

  it('when an upload is started and garbage collection runs, then uploads in progress and collection runs are counted', async () => {
    await client.startUpload('metered/app');
    const response = await client.request('/api/v1/gc', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    assert.ok(response.status < 300, await response.text());
    const text = await scrape();
    assert.equal(sample(text, 'berth_uploads_in_progress', {}), 1);
    assert.equal(sample(text, 'berth_gc_runs_total', { outcome: 'succeeded' }), 1);
    assert.equal(sample(text, 'berth_gc_duration_seconds_count', {}), 1);
  });

  it('when /debug/health, /livez and /readyz are asked on the debug address, then they answer 200 while storage works', async () => {
    for (const path of ['/debug/health', '/livez', '/readyz']) assert.equal((await fetch(`${registry.debugUrl}${path}`)).status, 200, path);
    assert.equal((await fetch(`${registry.url}/readyz`)).status, 200);
  });

  it('when storage cannot be written, then readiness fails at once while liveness holds', async () => {
    const healthDir = join(registry.dataDir, 'storage', 'v1', 'health');
    await rm(healthDir, { recursive: true, force: true });
    await writeFile(healthDir, 'not a directory');
    try {
      const ready = await fetch(`${registry.debugUrl}/readyz`);
      assert.equal(ready.status, 503);
      const body = (await ready.json()) as { checks: { storagedriver: { ok: boolean } } };
      assert.equal(body.checks.storagedriver.ok, false);
      assert.equal((await fetch(`${registry.debugUrl}/livez`)).status, 200);
    } finally {
      await rm(healthDir, { force: true });
    }
    assert.equal((await fetch(`${registry.debugUrl}/readyz`)).status, 200);
  });
});

describe('the handler label', () => {
  it('when request paths are classified, then they get Distribution route names', () => {
    assert.equal(handlerOf('/v2/'), 'base');
    assert.equal(handlerOf('/v2/_catalog?n=10'), 'catalog');
    assert.equal(handlerOf('/v2/a/b/tags/list'), 'tags');
    assert.equal(handlerOf('/v2/a/manifests/latest'), 'manifest');
    assert.equal(handlerOf('/v2/a/blobs/sha256:00'), 'blob');
    assert.equal(handlerOf('/v2/a/blobs/uploads/'), 'blob_upload');
    assert.equal(handlerOf('/v2/a/blobs/uploads/?digest=sha256:00'), 'blob_upload');
    assert.equal(handlerOf('/v2/a/blobs/uploads/0f2c'), 'blob_upload_chunk');
    assert.equal(handlerOf('/v2/a/referrers/sha256:00'), 'referrers');
    assert.equal(handlerOf('/api/v1/gc'), 'other');
  });
});
