import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WEBHOOK_TASKS } from '../../src/core/notifications/outbox.js';
import { OciClient } from '../support/oci-client.js';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { ManualClock, ManualScheduler } from '../support/time.js';

interface Event { action: string; target: { repository: string; tag?: string; mediaType?: string } }

/** A receiver that answers each delivery with the next status from `statuses` (then 200). */
class Receiver {
  readonly statuses: number[] = [];
  readonly attempts: Event[][] = [];
  private waiting: { count: number; resolve: () => void } | undefined;
  server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        this.attempts.push((JSON.parse(body) as { events: Event[] }).events);
        res.statusCode = this.statuses.shift() ?? 200;
        res.end();
        if (this.waiting && this.attempts.length >= this.waiting.count) this.waiting.resolve();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  attempted(count: number): Promise<void> {
    if (this.attempts.length >= count) return Promise.resolve();
    return new Promise((resolve) => (this.waiting = { count, resolve }));
  }
}

describe('the webhook outbox in process', () => {
  const receiver = new Receiver();
  const clock = new ManualClock();
  const scheduler = new ManualScheduler();
  let registry: TestRegistry;
  let client: OciClient;

  before(async () => {
    const url = await receiver.start();
    registry = await startInProcess({
      notifications: { endpoints: [{ name: 'ci', url, backoff: '30s', threshold: 3, ignore: { mediatypes: ['application/octet-stream'], actions: ['pull'] } }] },
    }, undefined, { clock: clock.now, scheduler });
    client = new OciClient(registry.url);
  });
  after(async () => {
    await registry.destroy();
    receiver.server.closeAllConnections();
    receiver.server.close();
  });

  it('when a manifest PUT is refused, then no event is written; the next stored manifest is the first event', async () => {
    const missing = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 }, layers: [] };
    const refused = await client.putManifest('ci/app', 'broken', JSON.stringify(missing), 'application/vnd.oci.image.manifest.v1+json');
    assert.ok(refused.status >= 400, String(refused.status));
    await client.pushImage('ci/app', 'v1', ['ci-one']);
    await receiver.attempted(1);
    assert.deepEqual(receiver.attempts.flat().map((event) => `${event.action} ${event.target.tag}`), ['push v1']);
  });

  it('when the receiver fails, then the next attempt waits for the backoff on the injected clock, and the events arrive in order', async () => {
    receiver.statuses.push(500);
    await client.pushImage('ci/app', 'v2', ['ci-two']);
    await receiver.attempted(2);
    await scheduler.run(WEBHOOK_TASKS.deliver);
    assert.equal(receiver.attempts.length, 2, 'no retry before the backoff has passed');
    const state = (await (await fetch(`${registry.url}/api/v1/webhooks`)).json()) as { endpoints: { pending: number; lastError?: string; failures: number }[] };
    assert.equal(state.endpoints[0]!.pending, 1);
    assert.equal(state.endpoints[0]!.failures, 1);
    assert.match(state.endpoints[0]!.lastError ?? '', /500/);

    await client.pushImage('ci/app', 'v3', ['ci-three']);
    assert.equal(receiver.attempts.length, 2, 'a new event does not jump the backoff');
    clock.advance(30_001);
    await scheduler.run(WEBHOOK_TASKS.deliver);
    assert.equal(receiver.attempts.length, 3);
    assert.deepEqual(receiver.attempts[2]!.map((event) => event.target.tag), ['v2', 'v3']);
  });
});

describe('pull events', () => {
  const receiver = new Receiver();
  const scheduler = new ManualScheduler();
  let registry: TestRegistry;
  let client: OciClient;

  before(async () => {
    const url = await receiver.start();
    registry = await startInProcess({
      notifications: { events: { includepulls: true }, endpoints: [{ name: 'scanner', url, ignore: { mediatypes: ['application/octet-stream'] } }] },
    }, undefined, { scheduler });
    client = new OciClient(registry.url);
  });
  after(async () => {
    await registry.destroy();
    receiver.server.closeAllConnections();
    receiver.server.close();
  });

  it('when pull events are on, then a manifest GET is sent as a pull once the batch is flushed, not before', async () => {
    await client.pushImage('scan/app', 'v1', ['scan-one']);
    await receiver.attempted(1);
    assert.equal((await client.request('/v2/scan/app/manifests/v1')).status, 200);
    await scheduler.run(WEBHOOK_TASKS.deliver);
    assert.equal(receiver.attempts.length, 1, 'the pull waits in memory for the batch');
    await scheduler.run(WEBHOOK_TASKS.flushPulls);
    await receiver.attempted(2);
    const [pull] = receiver.attempts[1]!;
    assert.deepEqual([pull!.action, pull!.target.repository, pull!.target.tag], ['pull', 'scan/app', 'v1']);
  });
});
