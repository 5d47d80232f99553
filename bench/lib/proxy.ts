import { request } from 'node:http';
import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RandomFile, smallBlob } from './blob.js';
import { keepAlive, RegistryClient } from './http.js';
import type { Recorder } from './lifecycle.js';
import { wrk } from './load.js';
import { BERTH, DISTRIBUTION } from './results.js';
import { startBerth, startDistribution, type Server } from './servers.js';
import { median } from './stats.js';

const CONCURRENT_PULLS = 16;
export const PROXY_UPSTREAM_DIRECT = 'the same image pulled from the upstream directly';
export const PROXY_HOSTED_PULL = 'Berth pull of the same image from a hosted repository';
export const PROXY_HOSTED_MANIFEST = 'Berth hosted manifest GET by tag (wrk)';
/** Ceiling of the cold row on this machine: what any proxy costs at least (it too receives and sends every byte). */
export const PROXY_RELAY_ONLY = 'the upstream through a second TCP relay (forwards bytes: no hashing, no disk)';
/** Ceiling of the concurrent row: the same 16 pulls with nothing to fetch, ÷ Berth's one cold pull. */
export const PROXY_HOSTED_CONCURRENT = `${CONCURRENT_PULLS} concurrent pulls from a hosted Berth (nothing to fetch) ÷ Berth's one cold pull`;

const MiB = 1024 * 1024;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const REPOSITORY = 'bench/proxied';
export const PROXY_METRICS = ['proxy-cold-pull', 'proxy-first-byte', 'proxy-warm-pull', 'proxy-upstream-bytes', 'proxy-concurrent-wall', 'proxy-manifest-get'];

export interface ProxySettings {
  layerMiB: number;
  repetitions: number;
  wrkSeconds: number;
  connections: number;
  wrkThreads: number;
}

interface Image {
  config: { bytes: Buffer; digest: string };
  layer: { digest: string; size: number };
  manifest: Buffer;
  /** Config + layer + manifest: what a pull transfers. */
  size: number;
}

/**
 * Upstream traffic, counted where it leaves the upstream: a TCP relay in front of it that
 * counts the bytes sent back (headers included, so a ratio of exactly 1.0 is not reachable;
 * a second fetch of the layer shows as ≥ 2).
 */
export class CountingRelay {
  bytes = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: NetServer,
    readonly url: string,
  ) {}

  static async start(upstream: string): Promise<CountingRelay> {
    const target = new URL(upstream);
    let relay: CountingRelay | undefined;
    const server = createServer((client) => {
      const remote = connect({ host: target.hostname, port: Number(target.port) });
      for (const socket of [client, remote]) {
        relay!.sockets.add(socket);
        socket.once('close', () => relay!.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          remote.destroy();
        });
      }
      remote.on('data', (chunk: Buffer) => (relay!.bytes += chunk.length));
      client.pipe(remote);
      remote.pipe(client);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    relay = new CountingRelay(server, `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
    return relay;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

/** GET a blob, discarding the body; milliseconds to the first body byte and in total. */
function timedBlobGet(url: string, agent: ReturnType<typeof keepAlive>): Promise<{ firstByteMs: number; totalMs: number; bytes: number }> {
  const started = process.hrtime.bigint();
  const since = () => Number(process.hrtime.bigint() - started) / 1e6;
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
        return;
      }
      let firstByteMs: number | undefined;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        firstByteMs ??= since();
        bytes += chunk.length;
      });
      res.once('end', () => resolve({ firstByteMs: firstByteMs ?? since(), totalMs: since(), bytes }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

/** A client's pull: manifest by tag, config, layer (one layer, so in sequence, as a client does). */
async function pullImage(base: string, image: Image): Promise<{ ms: number; layerFirstByteMs: number }> {
  const agent = keepAlive(2);
  try {
    return await pullWith(base, image, agent);
  } finally {
    agent.destroy();
  }
}

async function pullWith(base: string, image: Image, agent: ReturnType<typeof keepAlive>): Promise<{ ms: number; layerFirstByteMs: number }> {
  const client = new RegistryClient(base, agent);
  const started = process.hrtime.bigint();
  const reply = await client.get(`/v2/${REPOSITORY}/manifests/latest`, { Accept: OCI_MANIFEST });
  if (!reply.body.equals(image.manifest)) throw new Error(`${base} returned another manifest for ${REPOSITORY}:latest`);
  await client.pullBlob(REPOSITORY, image.config.digest);
  const layer = await timedBlobGet(`${base}/v2/${REPOSITORY}/blobs/${image.layer.digest}`, agent);
  if (layer.bytes !== image.layer.size) throw new Error(`${base} sent ${layer.bytes} layer bytes, expected ${image.layer.size}`);
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, layerFirstByteMs: layer.firstByteMs };
}

/**
 * Pull-through caching, issue 11's rows: Berth and Distribution each configured with
 * registry:2's `proxy.remoteurl` (the whole registry a cache of one upstream — the one setup
 * both have) on the same upstream, a Distribution instance on loopback holding one image (a
 * config and one layer of `layerMiB`), reached through a relay that counts what the upstream
 * sends. Every cold sample gets freshly started proxies with empty storage.
 */
export async function measureProxy(recorder: Recorder, work: string, settings: ProxySettings): Promise<void> {
  const mib = settings.layerMiB;
  const cold = recorder.metric('proxy-cold-pull', `Proxy: cold pull of an image with a ${mib} MiB layer (manifest, config, layer)`, 'MiB/s', 'higher');
  const firstByte = recorder.metric('proxy-first-byte', 'Proxy: time to first byte of a cold blob (the layer, its manifest already cached)', 'ms', 'lower');
  const warm = recorder.metric('proxy-warm-pull', `Proxy: warm pull of the same image (${mib} MiB layer)`, 'MiB/s', 'higher');
  const fetched = recorder.metric('proxy-upstream-bytes', `Proxy: ${CONCURRENT_PULLS} concurrent cold pulls of one image, bytes the upstream sent ÷ image size`, '×', 'lower');
  const concurrentWall = recorder.metric('proxy-concurrent-wall', `Proxy: wall time of ${CONCURRENT_PULLS} concurrent cold pulls ÷ one cold pull's`, '×', 'lower');
  const manifestFailures: string[] = [];
  const manifest = recorder.metric('proxy-manifest-get', `Proxy: warm manifest GET by tag within revalidate (wrk, ${settings.connections} connections)`, 'req/s', 'higher');
  const all = [cold, firstByte, warm, fetched, concurrentWall, manifest];
  // Distribution's proxy sometimes answers the pull right after a cold one with 500 (its cache
  // write still under way): it is retried, at most twice, and the failures are noted.
  const warmFailures: string[] = [];
  const warmPull = async (name: string, url: string, image: Image): Promise<{ ms: number }> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await pullImage(url, image);
      } catch (error) {
        if (name !== DISTRIBUTION || attempt === 3) throw error;
        warmFailures.push(String(error instanceof Error ? error.message : error));
      }
    }
  };

  let upstream: Server | undefined;
  let hosted: Server | undefined;
  let relay: CountingRelay | undefined;
  const running = new Set<Server>();
  const start = async (name: string, directory: string): Promise<Server> => {
    const extra = { proxy: { remoteurl: relay!.url } };
    const server = name === BERTH ? await startBerth(directory, undefined, extra) : await startDistribution(directory, undefined, extra);
    running.add(server);
    return server;
  };
  const stop = async (server: Server) => {
    running.delete(server);
    await server.child.stop();
  };
  try {
    await mkdir(join(work, 'proxy'), { recursive: true });
    const layerFile = RandomFile.create(join(work, 'proxy', 'layer.bin'), mib * MiB);
    const config = smallBlob(512);
    const layer = layerFile.blob(mib * MiB);
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.bytes.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
      }),
    );
    const image: Image = { config, layer: { digest: layer.digest, size: layer.size }, manifest: manifestBytes, size: config.bytes.length + layer.size + manifestBytes.length };
    const mibPerSecond = (ms: number) => image.size / MiB / (ms / 1000);
    // The same `layer` (one trailer) is pushed to the upstream and to the hosted Berth: the same bytes everywhere.
    upstream = await startDistribution(join(work, 'proxy', 'upstream'));
    const upstreamClient = new RegistryClient(upstream.url, keepAlive(2));
    await upstreamClient.pushSmall(REPOSITORY, config.bytes, config.digest);
    await upstreamClient.pushMonolithic(REPOSITORY, layer);
    await upstreamClient.putManifest(REPOSITORY, 'latest', manifestBytes, OCI_MANIFEST);
    upstreamClient.agent.destroy();
    relay = await CountingRelay.start(upstream.url);
    hosted = await startBerth(join(work, 'proxy', 'hosted'));
    const hostedClient = new RegistryClient(hosted.url, keepAlive(2));
    await hostedClient.pushSmall(REPOSITORY, config.bytes, config.digest);
    await hostedClient.pushMonolithic(REPOSITORY, layer);
    await hostedClient.putManifest(REPOSITORY, 'latest', manifestBytes, OCI_MANIFEST);
    hostedClient.agent.destroy();

    const singleColdMs: Record<string, number[]> = {};
    let sample = 0;
    for (let repetition = 0; repetition < settings.repetitions; repetition++) {
      // Warm-up of the upstream's page cache and the relay before the first measured pull.
      if (repetition === 0) await pullImage(relay.url, image);
      for (const name of [BERTH, DISTRIBUTION]) {
        const proxy = await start(name, join(work, 'proxy', `${name.toLowerCase()}-${sample++}`));
        try {
          const coldPull = await pullImage(proxy.url, image);
          recorder.record(cold, name, { value: mibPerSecond(coldPull.ms) });
          (singleColdMs[name] ??= []).push(coldPull.ms);
          recorder.record(firstByte, name, { value: coldPull.layerFirstByteMs });
          recorder.record(warm, name, { value: mibPerSecond((await warmPull(name, proxy.url, image)).ms) });
          // Distribution's proxy re-checks the tag upstream on every GET and fails some under this load:
          // it is rated on the requests it answered, and its failures are noted.
          const load = await wrk(`${proxy.url}/v2/${REPOSITORY}/manifests/latest`, { connections: settings.connections, threads: settings.wrkThreads, seconds: settings.wrkSeconds, headers: { Accept: OCI_MANIFEST }, tolerateFailures: name === DISTRIBUTION });
          if (load.failed) manifestFailures.push(`${name} failed ${load.failed} requests`);
          recorder.record(manifest, name, { value: load.requestsPerSecond });
        } finally {
          await stop(proxy);
        }
      }
      recorder.record(cold, PROXY_UPSTREAM_DIRECT, { value: mibPerSecond((await pullImage(relay.url, image)).ms) });
      const secondRelay = await CountingRelay.start(relay.url);
      try {
        recorder.record(cold, PROXY_RELAY_ONLY, { value: mibPerSecond((await pullImage(secondRelay.url, image)).ms) });
      } finally {
        await secondRelay.close();
      }
      recorder.record(warm, PROXY_HOSTED_PULL, { value: mibPerSecond((await pullImage(hosted.url, image)).ms) });
      recorder.record(manifest, PROXY_HOSTED_MANIFEST, { value: (await wrk(`${hosted.url}/v2/${REPOSITORY}/manifests/latest`, { connections: settings.connections, threads: settings.wrkThreads, seconds: settings.wrkSeconds, headers: { Accept: OCI_MANIFEST } })).requestsPerSecond });

      const hostedStarted = process.hrtime.bigint();
      await Promise.all(Array.from({ length: CONCURRENT_PULLS }, () => pullImage(hosted!.url, image)));
      recorder.record(concurrentWall, PROXY_HOSTED_CONCURRENT, { value: Number(process.hrtime.bigint() - hostedStarted) / 1e6 / median(singleColdMs[BERTH]!) });

      for (const name of [BERTH, DISTRIBUTION]) {
        const proxy = await start(name, join(work, 'proxy', `${name.toLowerCase()}-${sample++}`));
        try {
          relay.bytes = 0;
          const started = process.hrtime.bigint();
          await Promise.all(Array.from({ length: CONCURRENT_PULLS }, () => pullImage(proxy.url, image)));
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          recorder.record(fetched, name, { value: relay.bytes / image.size });
          recorder.record(concurrentWall, name, { value: ms / median(singleColdMs[name]!) });
        } finally {
          await stop(proxy);
        }
      }
    }
    const note = 'Proxy rows: Berth and Distribution both configured with registry:2\'s `proxy: {remoteurl}` (the whole registry a pull-through cache of the upstream, Berth\'s `revalidate` at its default 5m); the upstream is Distribution on loopback behind a byte-counting TCP relay; each cold sample starts the proxy afresh on empty storage';
    cold.note = note;
    if (manifestFailures.length > 0) manifest.note = `rated on answered requests: ${manifestFailures.join('; ')}`;
    if (warmFailures.length > 0) warm.note = `Distribution's warm pull failed and was retried ${warmFailures.length} time(s): ${warmFailures.join('; ')}`;
  } catch (error) {
    for (const metric of all) if (!metric.error) recorder.fail(metric, error);
  } finally {
    for (const server of running) await server.child.stop();
    await relay?.close();
    await hosted?.child.stop();
    await upstream?.child.stop();
  }
}
