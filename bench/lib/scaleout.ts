import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { startCeph, type RunningCeph } from '../../test/support/ceph.js';
import { startPostgres, type RunningPostgres } from '../../test/support/postgres.js';
import { s3Section } from '../../test/support/s3-config.js';
import { OCI_MANIFEST, ociManifest, RandomFile, smallBlob, type SyntheticBlob } from './blob.js';
import { call, keepAlive, RegistryClient, walkCatalog } from './http.js';
import type { Recorder } from './lifecycle.js';
import { wrk } from './load.js';
import { adopt, cpuSecondsOf, machineBusySeconds, preciseCpuSecondsOf, selfCpuSeconds, treeCpuSecondsOf } from './proc.js';
import { BERTH, DISTRIBUTION, type MetricResult } from './results.js';
import { startBerth, startDistribution, type RegistryExtras, type Server, type Subject } from './servers.js';
import { median, pool } from './stats.js';

export const SCALEOUT_PUSH_MONOLITHIC = 's3-push-monolithic';
export const SCALEOUT_PUSH_CHUNKED = 's3-push-chunked';
export const SCALEOUT_REDIRECT_CPU = 's3-pull-redirect-cpu';
export const SCALEOUT_PULL = 's3-pull';
export const SCALEOUT_MANIFEST = 's3-manifest-get-replicas';
export const SCALEOUT_CATALOG = 's3-catalog-walk';
export const SCALEOUT_METRICS = [SCALEOUT_PUSH_MONOLITHIC, SCALEOUT_PUSH_CHUNKED, SCALEOUT_REDIRECT_CPU, SCALEOUT_PULL, SCALEOUT_MANIFEST, SCALEOUT_CATALOG];
/** Rows where Distribution has no counterpart: Berth against another Berth setup. */
export const SCALEOUT_BERTH_ONLY = [SCALEOUT_REDIRECT_CPU];
export const REDIRECT_OFF = 'Berth with redirect disabled (bytes through Berth)';
export const ONE_REPLICA = 'Berth, 1 replica';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** The benchmark's own block for Ceph, apart from the test suite's 21000–21999. */
const CEPH_PORTS = { first: 25000, last: 25999 };
/** registry:2's default part size, given to both so their multipart uploads match. */
const CHUNK_SIZE = 10 * MiB;
export const REPLICAS = 3;

/** The harness's settings this module reads (its own keys carry the s3 prefix). */
export interface ScaleoutSettings {
  s3BlobMiB: number;
  s3ChunkMiB: number;
  /** Pulls per sample of the redirect CPU row. */
  s3RedirectPulls: number;
  wrkSeconds: number;
  warmSeconds: number;
  connections: number;
  s3CatalogRepos: number;
  s3CatalogPage: number;
  s3SeedConcurrency: number;
}

/** The harness's Bench, as this module uses it: it records, and runs A/B samples with its noise checks. */
export interface Measurer extends Recorder {
  /** Whether the run includes this metric id (`--only`). */
  enabled(id: string): boolean;
  log(message: string): void;
  measure(
    metric: MetricResult,
    subjects: Subject[],
    once: (subject: Subject, repetition: number) => Promise<number>,
    options?: { repetitions?: number; warm?: (subject: Subject) => Promise<unknown> },
  ): Promise<void>;
}

interface Stores {
  ceph: RunningCeph;
  postgres: RunningPostgres;
  s3: S3Client;
}

/** registry:2's `storage` section on a bucket of the shared Ceph, the same keys for both registries. */
function s3Storage(ceph: RunningCeph, bucket: string, redirect: boolean): Record<string, unknown> {
  return {
    s3: s3Section(ceph, bucket, { rootdirectory: '/registry', chunksize: CHUNK_SIZE }),
    delete: { enabled: true },
    redirect: { disable: !redirect },
    cache: { blobdescriptor: 'inmemory' },
  };
}

/**
 * Frees the memstore between push samples: every object of at least 1 MiB except those whose key
 * holds one of `keep` (hex digests). Each push stores a new blob that is never read again.
 */
async function pruneLargeObjects(s3: S3Client, bucket: string, keep: string[]): Promise<void> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    const doomed = (page.Contents ?? []).filter((object) => (object.Size ?? 0) >= MiB && !keep.some((hex) => object.Key!.includes(hex)));
    if (doomed.length > 0) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: doomed.map((object) => ({ Key: object.Key! })) } }));
    token = page.NextContinuationToken;
  } while (token);
}

function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** GET a blob; with `follow`, a 307 is followed to the object store on `direct`. Returns the bytes received. */
async function pullThrough(server: Server, repository: string, blob: SyntheticBlob, agent: ReturnType<typeof keepAlive>, direct?: ReturnType<typeof keepAlive>): Promise<number> {
  const reply = await call({ method: 'GET', url: `${server.url}/v2/${repository}/blobs/${blob.digest}`, agent, keepBody: false });
  let bytes = reply.bytes;
  if (direct) {
    if (reply.status !== 307 || !reply.headers.location) throw new Error(`${server.name}: a redirecting replica answered HTTP ${reply.status}`);
    const target = await call({ method: 'GET', url: reply.headers.location, agent: direct, keepBody: false });
    if (target.status !== 200) throw new Error(`the presigned URL answered HTTP ${target.status}`);
    bytes = target.bytes;
  } else if (reply.status !== 200) {
    throw new Error(`${server.name}: blob GET answered HTTP ${reply.status}`);
  }
  if (bytes !== blob.size) throw new Error(`${server.name}: ${bytes} bytes pulled, expected ${blob.size}`);
  return bytes;
}

/**
 * Issue 14's scale-out rows: Berth as replicas on Ceph RGW (S3) and PostgreSQL against
 * Distribution on its S3 driver, both on one Ceph (a bucket each) started for this module.
 * Berth runs three replicas with redirects disabled (one of them the single-server subject of
 * the push, pull and catalog rows) and a fourth replica with redirects on.
 */
export async function measureScaleout(bench: Measurer, work: string, settings: ScaleoutSettings): Promise<void> {
  const mib = settings.s3BlobMiB;
  const monolithic = bench.metric(SCALEOUT_PUSH_MONOLITHIC, `S3: monolithic blob push, ${mib} MiB`, 'MiB/s', 'higher');
  const chunked = bench.metric(SCALEOUT_PUSH_CHUNKED, `S3: chunked blob push, ${mib} MiB in ${settings.s3ChunkMiB} MiB PATCHes`, 'MiB/s', 'higher');
  const redirectCpu = bench.metric(SCALEOUT_REDIRECT_CPU, `S3: Berth CPU per GiB pulled with redirects on (${mib} MiB blob, client follows the 307 to RGW)`, 'CPU s/GiB', 'lower');
  const pull = bench.metric(SCALEOUT_PULL, `S3: blob pull through the registry (redirect disabled), ${mib} MiB`, 'MiB/s', 'higher');
  const manifest = bench.metric(SCALEOUT_MANIFEST, `S3: manifest GET by tag, Berth ${REPLICAS} replicas on PostgreSQL vs one Distribution (wrk, ${settings.connections} connections)`, 'req/s', 'higher');
  const catalog = bench.metric(SCALEOUT_CATALOG, `S3: _catalog full walk, ${settings.s3CatalogRepos}+ repositories, n=${settings.s3CatalogPage}`, 'ms', 'lower');
  const all = [monolithic, chunked, redirectCpu, pull, manifest, catalog];

  const stops: Array<() => Promise<void>> = [];
  try {
    const stores = await startStores(stops);
    const database = await stores.postgres.createDatabase('bench_scaleout');
    const [berthBucket, distributionBucket] = [await stores.ceph.createBucket(), await stores.ceph.createBucket()];
    const berthConfig = (redirect: boolean): RegistryExtras => ({
      storage: s3Storage(stores.ceph, berthBucket, redirect),
      database: { enabled: true, host: database.host, port: database.port, user: database.user, dbname: database.database },
    });
    const directory = (name: string) => join(work, 'scaleout', name);
    const started = (server: Server): Server => {
      stops.push(() => server.child.stop());
      return server;
    };
    // The first replica migrates the database; the others find it current.
    const replicas = [started(await startBerth(directory('berth-0'), undefined, berthConfig(false)))];
    for (let i = 1; i < REPLICAS; i++) replicas.push(started(await startBerth(directory(`berth-${i}`), undefined, berthConfig(false))));
    const redirecting = started(await startBerth(directory('berth-redirect'), undefined, berthConfig(true)));
    const distribution = started(await startDistribution(directory('distribution'), undefined, { storage: s3Storage(stores.ceph, distributionBucket, false) }));
    const berth: Subject = { name: BERTH, server: replicas[0]!, countCpu: true };
    const registries: Subject[] = [berth, { name: DISTRIBUTION, server: distribution, countCpu: true }];
    const clients = new Map(registries.map((subject) => [subject.name, new RegistryClient(subject.server.url, keepAlive(settings.s3SeedConcurrency))]));
    const client = (subject: Subject) => clients.get(subject.name)!;

    const source = RandomFile.create(join(work, 'scaleout', 'blob.bin'), mib * MiB);
    const pulled = source.blob(mib * MiB);
    const keep = [pulled.digest.slice('sha256:'.length)];
    const buckets = new Map([[BERTH, berthBucket], [DISTRIBUTION, distributionBucket]]);
    const prune = (subject: Subject) => pruneLargeObjects(stores.s3, buckets.get(subject.name)!, keep);
    for (const subject of registries) await client(subject).pushMonolithic('bench/pull', pulled);

    // 1. Pushes of a new blob each sample; the stored bytes are pruned after each (memstore).
    const warmPush = (push: (subject: Subject, blob: SyntheticBlob) => Promise<void>) => async (subject: Subject) => {
      await push(subject, source.blob(Math.min(mib, 64) * MiB));
      await prune(subject);
    };
    const pushRow = (metric: MetricResult, push: (subject: Subject, blob: SyntheticBlob) => Promise<void>) =>
      bench.measure(
        metric,
        registries,
        async (subject) => {
          const blob = source.blob(mib * MiB);
          const start = process.hrtime.bigint();
          await push(subject, blob);
          const rate = blob.size / MiB / seconds(start);
          await prune(subject);
          return rate;
        },
        { warm: warmPush(push) },
      );
    const pushWhole = (subject: Subject, blob: SyntheticBlob) => client(subject).pushMonolithic('bench/push', blob);
    const pushChunks = (subject: Subject, blob: SyntheticBlob) => client(subject).pushChunked('bench/push', blob, settings.s3ChunkMiB * MiB);
    await pushRow(monolithic, pushWhole);
    await pushRow(chunked, pushChunks);

    // 2. Pulls: through each registry, and Berth's own CPU per GiB with and without redirects.
    const pullAgent = keepAlive(1);
    const directAgent = keepAlive(1);
    const pullOnce = async (subject: Subject) => {
      const start = process.hrtime.bigint();
      const bytes = await pullThrough(subject.server, 'bench/pull', pulled, pullAgent);
      return bytes / MiB / seconds(start);
    };
    await bench.measure(pull, registries, pullOnce, { warm: pullOnce });

    const redirectSubjects: Subject[] = [
      { name: BERTH, server: redirecting, countCpu: true },
      { name: REDIRECT_OFF, server: replicas[0]!, countCpu: true },
    ];
    const cpuPerGiB = async (subject: Subject) => {
      const before = preciseCpuSecondsOf(subject.server.pid);
      let bytes = 0;
      for (let i = 0; i < settings.s3RedirectPulls; i++) bytes += await pullThrough(subject.server, 'bench/pull', pulled, pullAgent, subject.server === redirecting ? directAgent : undefined);
      return (preciseCpuSecondsOf(subject.server.pid) - before) / (bytes / GiB);
    };
    await bench.measure(redirectCpu, redirectSubjects, cpuPerGiB, { warm: (subject) => pullThrough(subject.server, 'bench/pull', pulled, pullAgent, subject.server === redirecting ? directAgent : undefined) });
    if (bench.enabled(redirectCpu.id)) redirectCpu.note = `CPU from /proc/<pid>/task/*/schedstat (nanoseconds, all threads) over each sample; the raw data's server CPU column is /proc/<pid>/stat (10 ms ticks) of the same samples; ${await redirectCosts(redirecting, pulled, pullAgent)}`;
    pullAgent.destroy();
    directAgent.destroy();

    // 3. Manifest GET by tag: load spread evenly over the replicas, one wrk per replica.
    if (bench.enabled(manifest.id) || bench.enabled(catalog.id)) {
      const config = smallBlob(512);
      const layer = smallBlob(1024);
      const manifestBytes = ociManifest(config, layer);
      for (const subject of registries) {
        await client(subject).pushSmall('bench/image', config.bytes, config.digest);
        await client(subject).pushSmall('bench/image', layer.bytes, layer.digest);
        await client(subject).putManifest('bench/image', 'latest', manifestBytes, OCI_MANIFEST);
      }
      await measureManifestGet(bench, manifest, stores.postgres, replicas, registries[1]!, settings);

      // 4. Catalog: the same repositories on both, seeded concurrently over HTTP (each a mounted config and layer and a tagged manifest).
      if (bench.enabled(catalog.id)) {
        const name = (i: number) => `bench/catalog/r${String(i).padStart(5, '0')}`;
        const seeders = [
          { subject: BERTH, servers: replicas },
          { subject: DISTRIBUTION, servers: [distribution] },
        ];
        await Promise.all(
          seeders.map(async ({ subject, servers }) => {
            const seedClients = servers.map((server) => new RegistryClient(server.url, keepAlive(settings.s3SeedConcurrency)));
            const start = process.hrtime.bigint();
            await pool(settings.s3CatalogRepos, settings.s3SeedConcurrency, async (i) => {
              const c = seedClients[i % seedClients.length]!;
              await c.mount(name(i), 'bench/image', config.digest);
              await c.mount(name(i), 'bench/image', layer.digest);
              await c.putManifest(name(i), 'latest', manifestBytes, OCI_MANIFEST);
            });
            bench.log(`seeded ${settings.s3CatalogRepos} repositories into ${subject} on S3 in ${seconds(start).toFixed(1)} s`);
            for (const c of seedClients) c.agent.destroy();
          }),
        );
        const listed: Record<string, number> = {};
        const walk = async (subject: Subject) => {
          const start = process.hrtime.bigint();
          const repositories = await walkCatalog(client(subject), settings.s3CatalogPage);
          const ms = seconds(start) * 1000;
          if (repositories < settings.s3CatalogRepos) throw new Error(`${subject.name} listed ${repositories} repositories, expected at least ${settings.s3CatalogRepos}`);
          listed[subject.name] = repositories;
          return ms;
        };
        // Only Berth has something to warm (its connection pool); Distribution lists the bucket afresh on every walk.
        await bench.measure(catalog, registries, walk, { warm: (subject) => (subject.name === BERTH ? walk(subject) : Promise.resolve()) });
        catalog.note = `repositories listed per walk: ${Object.entries(listed).map(([subject, count]) => `${subject} ${count}`).join(', ')}`;
      }
    }
    for (const c of clients.values()) c.agent.destroy();
  } catch (error) {
    for (const metric of all) if (bench.enabled(metric.id) && !metric.error && Object.keys(metric.samples).length === 0) bench.fail(metric, error);
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

/** Ceph and PostgreSQL, adopted by the harness (its CPU accounting, PID file and signal handler). */
async function startStores(stops: Array<() => Promise<void>>): Promise<Stores> {
  const [ceph, postgres] = await Promise.allSettled([startCeph({ portRange: CEPH_PORTS, memstoreBytes: 4 * GiB, gcMinWaitSeconds: 0 }), startPostgres()]);
  if (ceph.status === 'fulfilled') stops.push(adopt(ceph.value.pids, () => ceph.value.stop()));
  if (postgres.status === 'fulfilled') stops.push(adopt([postgres.value.pid], () => postgres.value.stop()));
  if (ceph.status === 'rejected') throw ceph.reason;
  if (postgres.status === 'rejected') throw postgres.reason;
  const s3 = new S3Client({
    endpoint: ceph.value.endpoint,
    region: ceph.value.region,
    forcePathStyle: true,
    credentials: { accessKeyId: ceph.value.accessKey, secretAccessKey: ceph.value.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  stops.push(async () => s3.destroy());
  return { ceph: ceph.value, postgres: postgres.value, s3 };
}

/**
 * Where the redirecting replica's CPU goes: per 307 answered (the redirect not followed), and
 * while idle (timers, leases, the database pool), which every sample of the row also carries.
 */
async function redirectCosts(server: Server, blob: SyntheticBlob, agent: ReturnType<typeof keepAlive>): Promise<string> {
  const requests = 50;
  let before = preciseCpuSecondsOf(server.pid);
  for (let i = 0; i < requests; i++) {
    const reply = await call({ method: 'GET', url: `${server.url}/v2/bench/pull/blobs/${blob.digest}`, agent, keepBody: false });
    if (reply.status !== 307) throw new Error(`${server.name}: a redirecting replica answered HTTP ${reply.status}`);
  }
  const perRedirectMs = ((preciseCpuSecondsOf(server.pid) - before) / requests) * 1000;
  before = preciseCpuSecondsOf(server.pid);
  const start = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, 3_000)); // a measuring window, not a synchronisation
  const idleMsPerSecond = ((preciseCpuSecondsOf(server.pid) - before) / seconds(start)) * 1000;
  return `the redirecting replica spent ${perRedirectMs.toFixed(1)} ms CPU per 307 answered (${requests} GETs, not followed) and ${idleMsPerSecond.toFixed(1)} ms CPU per second while idle`;
}

/**
 * Aggregate req/s of the replicas (one wrk per replica, the connections split evenly) against
 * one Distribution and one replica alone, with where the CPU went during each sample.
 */
async function measureManifestGet(bench: Measurer, metric: MetricResult, postgres: RunningPostgres, replicas: Server[], distribution: Subject, settings: ScaleoutSettings): Promise<void> {
  const headers = { Accept: OCI_MANIFEST };
  const url = (server: Server) => `${server.url}/v2/bench/image/manifests/latest`;
  const spread = (servers: Server[], duration: number) =>
    Promise.all(
      servers.map((server, i) => {
        const connections = Math.floor(settings.connections / servers.length) + (i < settings.connections % servers.length ? 1 : 0);
        return wrk(url(server), { connections, threads: 1, seconds: duration, headers });
      }),
    ).then((results) => results.map((result) => result.requestsPerSecond));
  const allReplicas: Subject = { name: BERTH, server: replicas[0]!, countCpu: false };
  const oneReplica: Subject = { name: ONE_REPLICA, server: replicas[0]!, countCpu: true };
  const serversOf = (subject: Subject) => (subject === allReplicas ? replicas : [subject.server]);
  const usage: Record<string, Array<{ registries: number; postgres: number; load: number; machine: number }>> = {};
  const perReplica: number[][] = [];
  await bench.measure(
    metric,
    [allReplicas, distribution, oneReplica],
    async (subject) => {
      const servers = serversOf(subject);
      const cpu = () => ({ registries: servers.reduce((sum, server) => sum + cpuSecondsOf(server.pid), 0), postgres: treeCpuSecondsOf(postgres.pid), load: selfCpuSeconds(), machine: machineBusySeconds() });
      const before = cpu();
      const start = process.hrtime.bigint();
      const rates = await spread(servers, settings.wrkSeconds);
      const wall = seconds(start);
      if (subject === allReplicas) perReplica.push(rates);
      const after = cpu();
      (usage[subject.name] ??= []).push({
        registries: (after.registries - before.registries) / wall,
        postgres: (after.postgres - before.postgres) / wall,
        load: (after.load - before.load) / wall,
        machine: (after.machine - before.machine) / wall,
      });
      return rates.reduce((sum, rate) => sum + rate, 0);
    },
    { warm: (subject) => spread(serversOf(subject), settings.warmSeconds) },
  );
  const cores = (name: string, part: 'registries' | 'postgres' | 'load' | 'machine') => median(usage[name]?.map((sample) => sample[part]) ?? []).toFixed(2);
  metric.note = `CPU in cores (medians): ${[BERTH, ONE_REPLICA, distribution.name]
    .map((name) => `${name === BERTH ? `Berth ${replicas.length} replicas` : name}: registry processes ${cores(name, 'registries')}, PostgreSQL ${cores(name, 'postgres')}, wrk + harness ${cores(name, 'load')}, whole machine ${cores(name, 'machine')}`)
    .join('; ')}; req/s per replica in each sample: ${perReplica.map((rates) => rates.map((rate) => rate.toFixed(0)).join(' + ')).join(', ')}; the load is spread over the replicas' ports directly (one wrk each, no load balancer in the path)`;
}
