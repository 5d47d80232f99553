import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { OciClient } from '../support/oci-client.js';
import { startServer, type RunningServer } from '../support/server.js';

const SECRET = 'receiver-shared-secret';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Delivery {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A webhook receiver that can go down (its port refuses connections) and come back on the same port. */
class Receiver {
  readonly deliveries: Delivery[] = [];
  private server: Server | undefined;
  private waiters: { count: number; resolve: () => void }[] = [];
  port = 0;

  async up(): Promise<void> {
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        this.deliveries.push({ headers: req.headers, body });
        res.end();
        for (const waiter of this.waiters) if (this.events().length >= waiter.count) waiter.resolve();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  events(): { action: string; target: { repository: string; tag?: string; digest?: string; mediaType?: string } }[] {
    return this.deliveries.flatMap((delivery) => (JSON.parse(delivery.body) as { events: never[] }).events);
  }

  /** Resolves once `count` events have arrived; fails the test after `timeoutMs`. */
  received(count: number, timeoutMs = 20_000): Promise<void> {
    if (this.events().length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.events().length} of ${count} events arrived`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
}

describe('webhooks from the outbox', () => {
  const receiver = new Receiver();
  let server: RunningServer | undefined;
  let dataDir: string | undefined;

  after(async () => {
    await server?.stop();
    await receiver.down();
    if (server) await server.cleanup();
  });

  const config = () => ({
    notifications: {
      endpoints: [{
        name: 'deployer',
        url: `http://127.0.0.1:${receiver.port}/events`,
        timeout: '2s',
        threshold: 1000,
        backoff: '100ms',
        // Only manifests: the blob pushes of each image are left out by the endpoint's filter.
        ignoredmediatypes: ['application/octet-stream'],
        secret: SECRET,
      }],
    },
  });

  it('when the receiver is down during five pushes and Berth restarts, then all five arrive after it comes back, in order, signed', async () => {
    await receiver.up();
    await receiver.down();
    server = await startServer({ config: config() });
    dataDir = server.dataDir;
    const client = new OciClient(server.url);
    const pushes = [['team/app', 'v1'], ['team/app', 'v2'], ['team/other', 'v1'], ['team/app', 'v3'], ['team/other', 'v2']] as const;
    for (const [name, tag] of pushes) await client.pushImage(name, tag, [`${name}-${tag}-layer`]);

    const state = await (await fetch(`${server.url}/api/v1/webhooks`)).json() as { endpoints: { name: string; pending: number; lastError?: string }[] };
    assert.equal(state.endpoints.length, 1);
    assert.equal(state.endpoints[0]!.name, 'deployer');
    assert.ok(state.endpoints[0]!.pending >= 5, JSON.stringify(state));

    await server.stop();
    await receiver.up();
    server = await startServer({ config: config(), dataDir });
    await receiver.received(5);

    const events = receiver.events();
    assert.equal(events.length, 5, JSON.stringify(events));
    assert.deepEqual(events.map((event) => [event.target.repository, event.target.tag]), pushes.map(([name, tag]) => [name, tag]));
    assert.ok(events.every((event) => event.action === 'push' && event.target.mediaType === MANIFEST && event.target.digest?.startsWith('sha256:')));
    for (const delivery of receiver.deliveries) {
      assert.equal(delivery.headers['content-type'], 'application/vnd.docker.distribution.events.v2+json');
      const expected = `sha256=${createHmac('sha256', SECRET).update(delivery.body).digest('hex')}`;
      assert.equal(delivery.headers['x-berth-signature'], expected);
    }

    const after = await (await fetch(`${server.url}/api/v1/webhooks`)).json() as { endpoints: { pending: number; lastSuccessAt?: string }[] };
    assert.equal(after.endpoints[0]!.pending, 0);
    assert.ok(after.endpoints[0]!.lastSuccessAt);
  });

  it('when a tag is deleted while the receiver is up, then a delete event for the tag follows at once', async () => {
    const client = new OciClient(server!.url);
    const before = receiver.events().length;
    assert.equal((await client.request('/v2/team/app/manifests/v1', { method: 'DELETE' })).status, 202);
    await receiver.received(before + 1);
    const event = receiver.events().at(-1)!;
    assert.equal(event.action, 'delete');
    assert.deepEqual([event.target.repository, event.target.tag], ['team/app', 'v1']);
  });
});
