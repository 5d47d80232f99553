import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { OCI_MANIFEST, ociManifest, smallBlob } from './blob.js';
import { call, keepAlive, RegistryClient } from './http.js';
import type { Recorder } from './lifecycle.js';
import { headLoad, wrk } from './load.js';
import { freePort } from './proc.js';
import { BERTH, DISTRIBUTION, type MetricResult } from './results.js';
import { startBerth, startDistribution, type RegistryExtras, type Server } from './servers.js';
import { pool } from './stats.js';

export const METRICS_OFF_MANIFEST = 'Berth without Prometheus metrics (manifest GET)';
export const METRICS_OFF_HEAD = 'Berth without Prometheus metrics (blob HEAD)';
export const WEBHOOK_OFF = 'Berth without a webhook endpoint';
export const OBSERVABILITY_METRICS = ['prometheus-manifest-get', 'prometheus-blob-head', 'webhook-push'];


export interface ObservabilitySettings {
  repetitions: number;
  wrkSeconds: number;
  warmSeconds: number;
  connections: number;
  wrkThreads: number;
  /** Images (config, 4 KiB layer, tagged manifest) per webhook push sample. */
  webhookImages: number;
  concurrency: number;
}

interface Subject {
  name: string;
  server: Server;
}

/**
 * Issue 13's rows: what observability costs on the request path. Berth and Distribution with
 * registry:2's `http.debug.prometheus` on (both scraped once to prove it), against the same
 * Berth without it; then image pushes with a `notifications.endpoints` webhook (a receiver on
 * loopback answering 200) against Berth without one. A/B/A/B, one warm-up per server.
 */
export async function measureObservability(recorder: Recorder, work: string, settings: ObservabilitySettings): Promise<void> {
  const manifestGet = recorder.metric('prometheus-manifest-get', `Manifest GET by tag with Prometheus metrics on (wrk, ${settings.connections} connections)`, 'req/s', 'higher');
  const blobHead = recorder.metric('prometheus-blob-head', `Blob HEAD with Prometheus metrics on (${settings.connections} connections)`, 'req/s', 'higher');
  const webhookPush = recorder.metric('webhook-push', `Image pushes (config, 4 KiB layer, tagged manifest; concurrency ${settings.concurrency}) with a webhook endpoint`, 'images/s', 'higher');

  const started: Server[] = [];
  const start = async (name: string, directory: string, extra?: RegistryExtras) => {
    const server = name === BERTH ? await startBerth(join(work, directory), undefined, extra) : await startDistribution(join(work, directory), undefined, extra);
    started.push(server);
    return server;
  };
  let receiver: Receiver | undefined;
  try {
    const config = smallBlob(512);
    const layer = smallBlob(1024);
    const manifest = ociManifest(config, layer);
    const metricsOn: Subject[] = [];
    const debug: Record<string, string> = {};
    for (const name of [BERTH, DISTRIBUTION]) {
      const debugAddress = `127.0.0.1:${await freePort()}`;
      const server = await start(name, `prometheus-${name.toLowerCase()}`, { http: { debug: { addr: debugAddress, prometheus: { enabled: true, path: '/metrics' } } } });
      debug[name] = `http://${debugAddress}/metrics`;
      metricsOn.push({ name, server });
    }
    const metricsOff = await start(BERTH, 'prometheus-off');
    for (const server of [...metricsOn.map((subject) => subject.server), metricsOff]) {
      const client = new RegistryClient(server.url, keepAlive(2));
      await client.pushSmall('bench/image', config.bytes, config.digest);
      await client.pushSmall('bench/image', layer.bytes, layer.digest);
      await client.putManifest('bench/image', 'latest', manifest, OCI_MANIFEST);
      client.agent.destroy();
    }

    const manifestRate = async (subject: Subject, seconds = settings.wrkSeconds) =>
      (await wrk(`${subject.server.url}/v2/bench/image/manifests/latest`, { connections: settings.connections, threads: settings.wrkThreads, seconds, headers: { Accept: OCI_MANIFEST } })).requestsPerSecond;
    const headRate = async (subject: Subject, seconds = settings.wrkSeconds) => (await headLoad(`${subject.server.url}/v2/bench/image/blobs/${layer.digest}`, { connections: settings.connections, seconds })).requestsPerSecond;
    const rows: [MetricResult, (subject: Subject, seconds?: number) => Promise<number>, string][] = [
      [manifestGet, manifestRate, METRICS_OFF_MANIFEST],
      [blobHead, headRate, METRICS_OFF_HEAD],
    ];
    for (const [metric, rate, offName] of rows) {
      try {
        const order = [...metricsOn, { name: offName, server: metricsOff }];
        for (const subject of order) await rate(subject, settings.warmSeconds);
        for (let repetition = 0; repetition < settings.repetitions; repetition++) {
          for (const subject of order) recorder.record(metric, subject.name, { value: await rate(subject) });
        }
      } catch (error) {
        recorder.fail(metric, error);
      }
    }
    // The switch really was on: each server's metrics endpoint counted the requests above.
    for (const name of [BERTH, DISTRIBUTION]) {
      const agent = keepAlive(1);
      const scraped = await call({ method: 'GET', url: debug[name]!, agent });
      agent.destroy();
      if (scraped.status !== 200 || !scraped.body.toString().includes('registry_http_requests_total')) {
        throw new Error(`${name}'s ${debug[name]} answered ${scraped.status} without registry_http_requests_total`);
      }
    }
    manifestGet.note = "Prometheus rows: `http.debug.addr` on loopback with `http.debug.prometheus.enabled: true` for both registries (each scraped afterwards to check it counted); the reference is the same Berth build without `http.debug`";
  } catch (error) {
    for (const metric of [manifestGet, blobHead]) if (!metric.error && Object.keys(metric.samples).length < 3) recorder.fail(metric, error);
  }

  try {
    receiver = await Receiver.start();
    const webhook = { notifications: { endpoints: [{ name: 'bench', url: receiver.url, timeout: '2s', threshold: 5, backoff: '1s' }] } };
    const pushers: Subject[] = [
      { name: BERTH, server: await start(BERTH, 'webhook-berth', webhook) },
      { name: DISTRIBUTION, server: await start(DISTRIBUTION, 'webhook-distribution', webhook) },
      { name: WEBHOOK_OFF, server: await start(BERTH, 'webhook-off') },
    ];
    let batch = 0;
    const pushImages = async (subject: Subject, count: number): Promise<number> => {
      const client = new RegistryClient(subject.server.url, keepAlive(settings.concurrency));
      const prefix = `bench/webhook/b${batch++}`;
      const began = process.hrtime.bigint();
      await pool(count, settings.concurrency, async (index) => {
        const repository = `${prefix}-${index % 16}`;
        const imageConfig = smallBlob(512);
        const imageLayer = smallBlob(4096);
        await client.pushSmall(repository, imageConfig.bytes, imageConfig.digest);
        await client.pushSmall(repository, imageLayer.bytes, imageLayer.digest);
        await client.putManifest(repository, `v${index}`, ociManifest(imageConfig, imageLayer), OCI_MANIFEST);
      });
      const seconds = Number(process.hrtime.bigint() - began) / 1e9;
      client.agent.destroy();
      return count / seconds;
    };
    for (const subject of pushers) await pushImages(subject, Math.min(20, settings.webhookImages));
    for (let repetition = 0; repetition < settings.repetitions; repetition++) {
      for (const subject of pushers) recorder.record(webhookPush, subject.name, { value: await pushImages(subject, settings.webhookImages) });
    }
    // Both registries delivered to the receiver (Berth from its outbox, after the pushes were answered).
    for (const name of [BERTH, DISTRIBUTION]) await receiver.waitForEventsFrom(name === BERTH ? pushers[0]!.server : pushers[1]!.server, 15_000);
    webhookPush.note = `Webhook rows: \`notifications.endpoints\` with one endpoint (a Node receiver on loopback answering 200; it received ${receiver.events} event envelopes in all); the reference is the same Berth without \`notifications\``;
  } catch (error) {
    recorder.fail(webhookPush, error);
  } finally {
    for (const server of started) await server.child.stop();
    await receiver?.close();
  }
}

/** A webhook receiver answering 200 to every envelope; remembers which registry (by `source.addr` or request host) sent some. */
class Receiver {
  events = 0;
  private readonly bodies: string[] = [];

  private constructor(
    private readonly server: HttpServer,
    readonly url: string,
  ) {}

  static async start(): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.once('end', () => {
        receiver!.events++;
        const body = Buffer.concat(chunks).toString();
        if (receiver!.bodies.length < 10_000) receiver!.bodies.push(body);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    receiver = new Receiver(server, `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/events`);
    return receiver;
  }

  /** Until an envelope names `server`'s address (registry:2 puts its host in `request.host` and `source.addr`). */
  async waitForEventsFrom(server: Server, timeoutMs: number): Promise<void> {
    const host = new URL(server.url).host;
    const port = new URL(server.url).port;
    const deadline = Date.now() + timeoutMs;
    while (!this.bodies.some((body) => body.includes(host) || body.includes(`:${port}"`))) {
      if (Date.now() > deadline) throw new Error(`the webhook receiver got nothing from ${server.name} (${host}) within ${timeoutMs} ms`);
      await new Promise((done) => setTimeout(done, 100));
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}
