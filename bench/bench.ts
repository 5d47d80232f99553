/**
 * Berth vs CNCF Distribution, on this machine, as ratios — plus the physical references
 * (page cache, sha256, nginx, a minimal Node upload handler) so the ratios to the limit can be
 * quoted. Run through `npm run bench` (bench/run.sh installs what it needs and builds first).
 *
 *   npx tsx bench/bench.ts [--quick] [--reps N] [--out docs/benchmarks.md] [--json file]
 *
 * Every server is started on 127.0.0.1 by this process and stopped by its PID in `finally`;
 * every file lives in one temporary directory that is removed at the end.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { closeSync, openSync, readFileSync, readSync, statfsSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RandomFile, smallBlob, digestOf, ociManifest, type SyntheticBlob } from './lib/blob.js';
import { call, keepAlive, RegistryClient, walkCatalog } from './lib/http.js';
import { headLoad, wrk } from './lib/load.js';
import { cpuSecondsOf, machineBusySeconds, memoryOf, resetPeak, benchPids, sampleRss, selfCpuSeconds, sleep, stopAll, treeCpuSecondsOf } from './lib/proc.js';
import { evaluateTargets, renderMarkdown } from './lib/report.js';
import { BERTH, DISTRIBUTION, type Machine, type MetricResult, type RunResults, type Sample, type Settings } from './lib/results.js';
import { BERTH_ROOT, REPO_ROOT, startBerth, startDistribution, startNginx, startUploadReference, type Subject } from './lib/servers.js';
import { measureLifecycle } from './lib/lifecycle.js';
import { measureObservability, OBSERVABILITY_METRICS } from './lib/metrics.js';
import { measureProxy, PROXY_METRICS } from './lib/proxy.js';
import { measureScaleout, SCALEOUT_METRICS } from './lib/scaleout.js';
import { measureSearch, SEARCH_METRICS } from './lib/search.js';
import { median, pool } from './lib/stats.js';

const { compareSync, hashSync } = bcrypt;

const MiB = 1024 * 1024;
/** `htpasswd -B`'s default cost, what registry:2 users have in their files. */
const BCRYPT_COST = 5;

const { values: options } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
    reps: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'string' },
    only: { type: 'string' },
    render: { type: 'string' },
  },
});

/** `--only a,b`: run just those metric ids (for profiling); the report then goes to a temp file unless --out says otherwise. */
const only = options.only?.split(',').map((id) => id.trim()).filter(Boolean);
const enabled = (id: string) => !only || only.includes(id);

const quick = options.quick ?? false;
/** Sizes and counts: the issue's numbers for a full run, tiny ones for CI. */
const settings = {
  mode: quick ? 'quick' : 'full',
  repetitions: Number(options.reps ?? process.env.BENCH_REPS ?? (quick ? 1 : 5)),
  bigBlobMiB: quick ? 4 : 512,
  chunkMiB: quick ? 1 : 16,
  parallelPulls: 32,
  parallelBlobMiB: quick ? 0.25 : 32,
  connections: 64,
  wrkThreads: 1,
  wrkSeconds: quick ? 1 : 5,
  warmSeconds: 1,
  smallBlobs: quick ? 64 : 2000,
  smallBlobKiB: 4,
  smallConcurrency: 16,
  catalogRepos: quick ? 30 : 1000,
  catalogPage: quick ? 10 : 100,
  tagRequests: quick ? 20 : 200,
  memoryBlobMiB: quick ? 16 : 2048,
  memoryRepetitions: quick ? 1 : 2,
  idleSettleMs: quick ? 500 : 2000,
  lifecycleImages: quick ? 80 : 2000,
  proxyLayerMiB: quick ? 4 : 256,
  webhookImages: quick ? 60 : 2000,
  searchRepositories: quick ? 200 : 10_000,
  searchTagsPerRepository: 10,
  searchPageRequests: quick ? 5 : 20,
  s3BlobMiB: quick ? 4 : 256,
  s3ChunkMiB: quick ? 1 : 16,
  s3RedirectPulls: quick ? 2 : 4,
  // Issue 14 names 10,000; on this 2-core machine seeding that many over HTTP takes ~6 minutes per
  // registry (~28 repositories/s each) and one Distribution walk minutes more, so the default
  // full run uses 2,000 and BENCH_S3_CATALOG_REPOS=10000 runs the issue's size.
  s3CatalogRepos: quick ? 100 : Number(process.env.BENCH_S3_CATALOG_REPOS ?? 2000),
  s3CatalogPage: quick ? 20 : 1000,
  s3SeedConcurrency: 16,
} satisfies Settings;

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function mibPerSecond(bytes: number, seconds: number): number {
  return bytes / MiB / seconds;
}

async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/**
 * Before every large push sample, outside the timed part: flush dirty pages left by earlier writes,
 * then (when allowed) drop the clean page cache and read the source file back into it. On
 * this project's VMs, page-cache growth into memory the guest has not touched before costs
 * about ten times more kernel time per byte (a 512 MiB write: 0.1 s of system time while the
 * cache is under ~2.5 GiB, 1.1–1.4 s beyond; measured with dd), so without this every push
 * got slower the more both registries had stored, whatever the server. With it, every sample
 * writes into recycled pages. Without permission (not root), and in quick mode (CI, where the
 * numbers mean nothing and other work shares the cache), only the flush happens.
 */
let dropCaches = !quick;
function settleMemory(source: RandomFile): void {
  execFileSync('sync');
  if (!dropCaches) return;
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '1');
  } catch (error) {
    dropCaches = false;
    log(`cannot drop the page cache (${(error as Error).message}); push samples run on a growing page cache`);
    return;
  }
  source.warm();
}

function versionOf(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  const text = `${result.stdout ?? ''}\n${result.stderr ?? ''}`.trim();
  return text.split('\n')[0]?.trim() || 'unknown';
}

function machineInfo(work: string): Machine {
  const pkg = JSON.parse(readFileSync(join(BERTH_ROOT, 'package.json'), 'utf8')) as { version: string };
  let revision = process.env.BENCH_BERTH_REVISION ?? '';
  if (!revision) {
    try {
      revision = execFileSync('git', ['-C', BERTH_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      const dirty = execFileSync('git', ['-C', BERTH_ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      if (dirty) revision += ' + uncommitted src changes';
    } catch {
      revision = 'revision unknown';
    }
  }
  const fsTypes: Record<number, string> = { 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x794c7630: 'overlayfs' };
  const fsType = statfsSync(work).type;
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: totalmem() / 1024 ** 3,
    kernel: release(),
    filesystem: `${fsTypes[fsType] ?? `fs 0x${fsType.toString(16)}`} (${tmpdir()}${mountTraits(work)})`,
    node: process.version,
    berth: `${pkg.version} (${revision})`,
    distribution: versionOf('/usr/bin/docker-registry', ['--version']).replace(/^\S*docker-registry\s+/, ''),
    nginx: versionOf('nginx', ['-v']).replace(/^nginx version:\s*/, ''),
    wrk: versionOf('wrk', ['-v']).replace(/\s+Copyright.*$/, ''),
  };
}


/**
 * What of the filesystem's mount bears on the numbers: ext4 mounted `discard` trims the device
 * inside every unlink (synchronously where it has no journal), which bounds garbage collection.
 */
function mountTraits(path: string): string {
  try {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((line) => line.split(' '));
    // Fields: 4 the mount point; after '-': the type, the source, the superblock options.
    const mount = mounts
      .filter((fields) => fields.length > 6 && (path === fields[4] || path.startsWith(fields[4] === '/' ? '/' : `${fields[4]}/`)))
      .sort((a, b) => b[4]!.length - a[4]!.length)[0];
    if (!mount) return '';
    const rest = mount.slice(mount.indexOf('-') + 1);
    const [type, source = '', options = ''] = rest;
    const traits = [options.split(',').includes('discard') ? 'mounted discard' : 'no online discard'];
    if (type === 'ext4') {
      const ext4Options = readFileSync(`/proc/fs/ext4/${source.replace(/^\/dev\//, '')}/options`, 'utf8');
      traits.push(/^data=/m.test(ext4Options) ? 'journal' : 'no journal');
    }
    return `; ${traits.join(', ')}`;
  } catch {
    return '';
  }
}

/**
 * The machine is shared: a build or test run elsewhere on it would skew a sample. Each sample
 * measures the CPU used by processes outside the benchmark (machine busy time minus this
 * process, its reaped children and every server it started, with their descendants) as a share
 * of the machine's capacity over the sample's wall time; above FOREIGN_LIMIT the sample is
 * retaken after a pause, at most MAX_RETAKES times, and the share is kept in the raw data.
 */
const FOREIGN_LIMIT = 0.2;
const MAX_RETAKES = quick ? 0 : 3;
/** Retakes stop once they have cost this much in total, so a busy machine cannot stretch the run without bound. */
const RETAKE_BUDGET_MS = 8 * 60_000;

function ourCpu(): number {
  return selfCpuSeconds() + benchPids().reduce((sum, pid) => sum + treeCpuSecondsOf(pid), 0);
}

class Bench {
  readonly enabled = enabled;
  readonly log = log;
  readonly metrics: MetricResult[] = [];
  readonly references: MetricResult[] = [];
  failures = 0;
  retakes = 0;
  retakeMs = 0;

  metric(id: string, title: string, unit: string, better: 'higher' | 'lower', note?: string): MetricResult {
    const metric: MetricResult = { id, title, unit, better, samples: {}, ...(note ? { note } : {}) };
    this.metrics.push(metric);
    return metric;
  }

  fail(metric: MetricResult, error: unknown): void {
    this.failures++;
    metric.error = error instanceof Error ? error.message : String(error);
    log(`${metric.id} FAILED: ${metric.error}`);
  }

  record(metric: MetricResult, subject: string, sample: Sample): void {
    (metric.samples[subject] ??= []).push(sample);
    const details = [
      ...(sample.cpuSeconds === undefined ? [] : [`server CPU ${sample.cpuSeconds.toFixed(2)} s`]),
      ...(sample.foreignCpuShare === undefined ? [] : [`busy elsewhere ${(sample.foreignCpuShare * 100).toFixed(0)}%`]),
    ];
    log(`${metric.id} ${subject}: ${sample.value.toFixed(2)} ${metric.unit}${details.length ? ` (${details.join(', ')})` : ''}`);
  }

  /**
   * Runs `once` for every subject in order, `repetitions` times (A/B/A/B…), after an optional
   * unmeasured warm-up per subject. A failure marks the metric and the run fails at the end.
   */
  async measure(
    metric: MetricResult,
    subjects: Subject[],
    once: (subject: Subject, repetition: number) => Promise<number>,
    options: { repetitions?: number; warm?: (subject: Subject) => Promise<unknown>; before?: () => void } = {},
  ): Promise<void> {
    if (!enabled(metric.id)) return;
    try {
      if (options.warm) for (const subject of subjects) await options.warm(subject);
      const repetitions = options.repetitions ?? settings.repetitions;
      for (let repetition = 0; repetition < repetitions; repetition++) {
        for (const subject of subjects) {
          for (let take = 0; ; take++) {
            options.before?.();
            const cpuBefore = subject.countCpu ? cpuSecondsOf(subject.server.pid) : 0;
            const busyBefore = machineBusySeconds();
            const oursBefore = ourCpu();
            const started = process.hrtime.bigint();
            const value = await once(subject, repetition);
            const wall = Number(process.hrtime.bigint() - started) / 1e9;
            const foreign = machineBusySeconds() - busyBefore - (ourCpu() - oursBefore);
            const foreignShare = Math.max(0, foreign) / (wall * cpus().length);
            if (!(value > 0) || !Number.isFinite(value)) throw new Error(`${subject.name} gave ${value}`);
            // Shorter samples are below the 10 ms accounting tick: their share is noise.
            if (wall >= 0.5 && foreignShare > FOREIGN_LIMIT && take < MAX_RETAKES && this.retakeMs < RETAKE_BUDGET_MS) {
              log(`${metric.id} ${subject.name}: ${(foreignShare * 100).toFixed(0)}% of the machine was busy elsewhere (${value.toFixed(2)} ${metric.unit} discarded); retaking`);
              this.retakes++;
              this.retakeMs += wall * 1000 + 3_000;
              await sleep(3_000);
              continue;
            }
            const sample: Sample = { value, foreignCpuShare: Number(foreignShare.toFixed(3)) };
            if (subject.countCpu) sample.cpuSeconds = cpuSecondsOf(subject.server.pid) - cpuBefore;
            this.record(metric, subject.name, sample);
            break;
          }
        }
      }
    } catch (error) {
      this.fail(metric, error);
    }
  }
}

/** Page-cache read and sha256 rates: the floor under every push and pull. */
function measureReferences(bench: Bench, file: RandomFile): void {
  const read: MetricResult = { id: 'ref-page-cache', title: 'Page-cache read (readSync, 4 MiB)', unit: 'MiB/s', better: 'higher', samples: {} };
  const hash: MetricResult = { id: 'ref-sha256', title: 'sha256 in Node (createHash, 4 MiB updates)', unit: 'MiB/s', better: 'higher', samples: {} };
  bench.references.push(read, hash);
  const buffer = Buffer.allocUnsafe(4 * MiB);
  const readAll = () => {
    const fd = openSync(file.path, 'r');
    try {
      let total = 0;
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, total)) > 0; ) total += n;
      return total;
    } finally {
      closeSync(fd);
    }
  };
  readAll(); // into the cache
  for (let repetition = 0; repetition < settings.repetitions; repetition++) {
    let started = process.hrtime.bigint();
    const bytes = readAll();
    bench.record(read, read.title, { value: mibPerSecond(bytes, Number(process.hrtime.bigint() - started) / 1e9) });
    const digester = createHash('sha256');
    started = process.hrtime.bigint();
    const rounds = Math.max(1, Math.round(file.size / buffer.length));
    for (let i = 0; i < rounds; i++) digester.update(buffer);
    digester.digest();
    bench.record(hash, hash.title, { value: mibPerSecond(rounds * buffer.length, Number(process.hrtime.bigint() - started) / 1e9) });
  }
}

/** Runs `task(i)` for i in [0, count) with `concurrency` workers. */
async function run(work: string, bench: Bench): Promise<void> {
  const files = join(work, 'files');
  await mkdir(files, { recursive: true });
  log(`writing a ${settings.bigBlobMiB} MiB random file`);
  const source = RandomFile.create(join(files, 'blob.bin'), settings.bigBlobMiB * MiB);
  const bigSize = source.size;
  const settle = () => settleMemory(source);
  const blob = (size: number): SyntheticBlob => source.blob(size);

  measureReferences(bench, source);

  log('starting Berth and Distribution');
  const berthServer = await startBerth(join(work, 'berth'));
  const distributionServer = await startDistribution(join(work, 'distribution'));
  const registries: Subject[] = [
    { name: BERTH, server: berthServer, countCpu: true },
    { name: DISTRIBUTION, server: distributionServer, countCpu: true },
  ];
  const clients = new Map(registries.map((subject) => [subject.name, new RegistryClient(subject.server.url, keepAlive(64))]));
  const client = (subject: Subject) => clients.get(subject.name)!;

  await sleep(settings.idleSettleMs);
  const idle = bench.metric('rss-idle', 'Resident memory, idle after start', 'MiB', 'lower');
  for (const subject of registries) bench.record(idle, subject.name, { value: memoryOf(subject.server.pid).rssMiB });

  log('starting nginx and the minimal Node upload handler');
  const nginx = await startNginx(join(work, 'nginx'), files);
  const uploadDirectory = join(work, 'node-upload');
  const uploader = await startUploadReference(uploadDirectory);
  const referenceAgent = keepAlive(4);
  const clearReferenceUploads = async () => {
    for (const directory of [uploadDirectory, join(work, 'nginx', 'put')]) {
      for (const name of await readdir(directory)) await rm(join(directory, name), { force: true, recursive: true });
    }
  };
  /** A reference "server" that takes PUT <url> with the blob as body. */
  const putReference = (name: string, url: (n: number) => string): Subject & { put(blob: SyntheticBlob): Promise<void> } => {
    let n = 0;
    return {
      name,
      server: name.startsWith('nginx') ? nginx : uploader,
      countCpu: !name.startsWith('nginx'), // nginx works in a child of the PID we hold
      async put(body: SyntheticBlob) {
        const reply = await call({ method: 'PUT', url: url(n++), agent: referenceAgent, body: body.stream(), bodyLength: body.size, headers: { 'Content-Type': 'application/octet-stream' } });
        if (reply.status !== 201 && reply.status !== 204) throw new Error(`${name}: HTTP ${reply.status}`);
      },
    };
  };
  const uploadReferences = [
    putReference('Node upload + fsync', (n) => `${uploader.url}/blob-${n}?fsync=1`),
    putReference('Node upload', (n) => `${uploader.url}/blob-${n}`),
    putReference('nginx PUT (dav, no fsync)', (n) => `${nginx.url}/put/blob-${n}`),
  ];

  // Content every metric after this needs: a blob to pull, a blob for the parallel pulls, and
  // an image (config + layer + tagged manifest) for manifest GET, blob HEAD and the catalog.
  const pullBlob = blob(bigSize);
  const parallelBlob = blob(Math.round(settings.parallelBlobMiB * MiB));
  const config = smallBlob(512);
  const layer = smallBlob(1024);
  const manifest = ociManifest(config, layer);
  const manifestDigest = digestOf(manifest);
  for (const subject of registries) {
    const c = client(subject);
    await c.pushMonolithic('bench/pull', pullBlob);
    await c.pushMonolithic('bench/pull', parallelBlob);
    await c.pushSmall('bench/image', config.bytes, config.digest);
    await c.pushSmall('bench/image', layer.bytes, layer.digest);
    await c.putManifest('bench/image', 'latest', manifest, 'application/vnd.oci.image.manifest.v1+json');
    const reply = await c.get('/v2/bench/image/manifests/latest', { Accept: MANIFEST_ACCEPT });
    if (reply.headers['docker-content-digest'] !== manifestDigest || !reply.body.equals(manifest)) {
      throw new Error(`${subject.name} returned a different manifest for bench/image:latest`);
    }
  }

  // 1. Monolithic push.
  const mono = bench.metric('push-monolithic', `Monolithic blob push, ${settings.bigBlobMiB} MiB`, 'MiB/s', 'higher');
  await bench.measure(
    mono,
    [...registries, ...uploadReferences],
    async (subject) => {
      const body = blob(bigSize);
      const reference = uploadReferences.find((candidate) => candidate.name === subject.name);
      const seconds = await timed(() => (reference ? reference.put(body) : client(subject).pushMonolithic('bench/push', body)));
      if (reference) await clearReferenceUploads();
      return mibPerSecond(body.size, seconds);
    },
    {
      before: settle,
      warm: async (subject) => {
        const reference = uploadReferences.find((candidate) => candidate.name === subject.name);
        const body = blob(Math.min(bigSize, 64 * MiB));
        await (reference ? reference.put(body) : client(subject).pushMonolithic('bench/push', body));
        await clearReferenceUploads();
      },
    },
  );

  // 2. Chunked push.
  const chunked = bench.metric('push-chunked', `Chunked blob push, ${settings.bigBlobMiB} MiB in ${settings.chunkMiB} MiB PATCHes`, 'MiB/s', 'higher');
  await bench.measure(
    chunked,
    registries,
    async (subject) => {
      const body = blob(bigSize);
      return mibPerSecond(body.size, await timed(() => client(subject).pushChunked('bench/push', body, settings.chunkMiB * MiB)));
    },
    { before: settle, warm: (subject) => client(subject).pushChunked('bench/push', blob(Math.min(bigSize, 64 * MiB)), settings.chunkMiB * MiB) },
  );
  // Chunked pushes are compared with the same single-request upload references.
  for (const reference of uploadReferences) if (mono.samples[reference.name]) chunked.samples[reference.name] = mono.samples[reference.name]!;
  chunked.note = 'the upload references are the monolithic PUT samples (a single request), shown again for comparison';

  // 3. Blob pull.
  const pullAgent = keepAlive(1);
  const nginxReferences: Subject[] = [
    { name: 'nginx sendfile on', server: nginx, countCpu: false },
    { name: 'nginx sendfile off', server: nginx, countCpu: false },
  ];
  const pullOnce = async (subject: Subject): Promise<number> => {
    let bytes = 0;
    const seconds = await timed(async () => {
      if (subject.name === 'nginx sendfile on' || subject.name === 'nginx sendfile off') {
        const path = subject.name === 'nginx sendfile on' ? 'sendfile' : 'copy';
        const reply = await call({ method: 'GET', url: `${nginx.url}/${path}/blob.bin`, agent: pullAgent, keepBody: false });
        if (reply.status !== 200) throw new Error(`nginx GET: HTTP ${reply.status}`);
        bytes = reply.bytes;
      } else {
        bytes = await client(subject).pullBlob('bench/pull', pullBlob.digest, pullAgent);
      }
    });
    if (bytes !== bigSize) throw new Error(`${subject.name} sent ${bytes} bytes, expected ${bigSize}`);
    return mibPerSecond(bytes, seconds);
  };
  const pull = bench.metric('pull', `Blob pull, ${settings.bigBlobMiB} MiB`, 'MiB/s', 'higher');
  await bench.measure(pull, [...registries, ...nginxReferences], pullOnce, { warm: pullOnce });

  // 4. Manifest GET by tag and blob HEAD.
  const manifestUrl = (subject: Subject) => `${subject.server.url}/v2/bench/image/manifests/latest`;
  const manifestGet = bench.metric('manifest-get', `Manifest GET by tag (wrk, ${settings.connections} connections)`, 'req/s', 'higher');
  const wrkOptions = { connections: settings.connections, threads: settings.wrkThreads, headers: { Accept: MANIFEST_ACCEPT } };
  await bench.measure(manifestGet, registries, async (subject) => (await wrk(manifestUrl(subject), { ...wrkOptions, seconds: settings.wrkSeconds })).requestsPerSecond, {
    warm: (subject) => wrk(manifestUrl(subject), { ...wrkOptions, seconds: settings.warmSeconds }),
  });
  const headUrl = (subject: Subject) => `${subject.server.url}/v2/bench/image/blobs/${layer.digest}`;
  const blobHead = bench.metric('blob-head', `Blob HEAD (${settings.connections} connections)`, 'req/s', 'higher');
  await bench.measure(blobHead, registries, async (subject) => (await headLoad(headUrl(subject), { connections: settings.connections, seconds: settings.wrkSeconds })).requestsPerSecond, {
    warm: (subject) => headLoad(headUrl(subject), { connections: settings.connections, seconds: settings.warmSeconds }),
  });

  // 5. Parallel pulls.
  const parallelAgents = new Map(registries.map((subject) => [subject.name, keepAlive(settings.parallelPulls)]));
  const parallelOnce = async (subject: Subject): Promise<number> => {
    const agent = parallelAgents.get(subject.name)!;
    let total = 0;
    const seconds = await timed(() =>
      Promise.all(
        Array.from({ length: settings.parallelPulls }, async () => {
          const bytes = await client(subject).pullBlob('bench/pull', parallelBlob.digest, agent);
          if (bytes !== parallelBlob.size) throw new Error(`${subject.name} sent ${bytes} bytes, expected ${parallelBlob.size}`);
          total += bytes;
        }),
      ),
    );
    return mibPerSecond(total, seconds);
  };
  const parallel = bench.metric('parallel-pull', `${settings.parallelPulls} parallel pulls of a ${settings.parallelBlobMiB} MiB blob (aggregate)`, 'MiB/s', 'higher');
  await bench.measure(parallel, registries, parallelOnce, { warm: parallelOnce });

  // 6. Small-blob pushes.
  const smallAgents = new Map(registries.map((subject) => [subject.name, new RegistryClient(subject.server.url, keepAlive(settings.smallConcurrency))]));
  const smallOnce = async (subject: Subject, count = settings.smallBlobs): Promise<number> => {
    const blobs = Array.from({ length: count }, () => smallBlob(settings.smallBlobKiB * 1024));
    const c = smallAgents.get(subject.name)!;
    const seconds = await timed(() => pool(count, settings.smallConcurrency, (i) => c.pushSmall('bench/small', blobs[i]!.bytes, blobs[i]!.digest)));
    return count / seconds;
  };
  const small = bench.metric('small-push', `${settings.smallBlobs} pushes of ${settings.smallBlobKiB} KiB blobs, concurrency ${settings.smallConcurrency}`, 'pushes/s', 'higher');
  await bench.measure(small, registries, (subject) => smallOnce(subject), { before: () => execFileSync('sync'), warm: (subject) => smallOnce(subject, Math.min(200, settings.smallBlobs)) });

  // 7. Catalog walk and tags/list after creating many repositories.
  const repoName = (i: number) => `bench/catalog/r${String(i).padStart(4, '0')}`;
  for (const subject of enabled('catalog-walk') || enabled('tags-list') ? registries : []) {
    const c = smallAgents.get(subject.name)!;
    const seconds = await timed(() =>
      pool(settings.catalogRepos, settings.smallConcurrency, async (i) => {
        await c.mount(repoName(i), 'bench/image', config.digest);
        await c.mount(repoName(i), 'bench/image', layer.digest);
        await c.putManifest(repoName(i), 'latest', manifest, 'application/vnd.oci.image.manifest.v1+json');
      }),
    );
    log(`created ${settings.catalogRepos} repositories on ${subject.name} in ${seconds.toFixed(1)} s`);
  }
  const walkCounts: Record<string, number> = {};
  const catalog = bench.metric('catalog-walk', `_catalog full walk, ${settings.catalogRepos}+ repositories, n=${settings.catalogPage}`, 'ms', 'lower');
  const walkOnce = async (subject: Subject): Promise<number> => {
    let repositories = 0;
    const seconds = await timed(async () => (repositories = await walkCatalog(client(subject), settings.catalogPage)));
    if (repositories < settings.catalogRepos) throw new Error(`${subject.name} listed ${repositories} repositories, expected at least ${settings.catalogRepos}`);
    walkCounts[subject.name] = repositories;
    return seconds * 1000;
  };
  await bench.measure(catalog, registries, walkOnce, { warm: walkOnce });
  catalog.note = `repositories listed per walk: ${Object.entries(walkCounts)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ')} (Berth lists only repositories that hold a manifest; Distribution also those with only blobs)`;

  const tags = bench.metric('tags-list', `tags/list latency (median of ${settings.tagRequests} sequential requests)`, 'ms', 'lower');
  const tagsOnce = async (subject: Subject): Promise<number> => {
    const c = client(subject);
    const latencies: number[] = [];
    for (let i = 0; i < settings.tagRequests; i++) {
      const name = repoName(Math.floor(Math.random() * settings.catalogRepos));
      const seconds = await timed(async () => {
        const reply = await c.get(`/v2/${name}/tags/list`);
        const body = JSON.parse(reply.body.toString()) as { tags: string[] };
        if (body.tags.length !== 1 || body.tags[0] !== 'latest') throw new Error(`${subject.name} listed tags ${JSON.stringify(body.tags)} for ${name}`);
      });
      latencies.push(seconds * 1000);
    }
    return median(latencies);
  };
  await bench.measure(tags, registries, tagsOnce, { warm: tagsOnce });

  // 8. Authenticated pulls: a second pair of registries behind the same htpasswd file. Berth
  // checks bcrypt once per credential and then answers from its verified-credential cache;
  // the reference is what one bcrypt verification per request would allow in Node.
  const authPull = bench.metric('auth-pull', `Authenticated manifest GET (htpasswd, bcrypt cost ${BCRYPT_COST}, wrk ${settings.connections} connections)`, 'req/s', 'higher');
  if (enabled(authPull.id)) {
    const password = randomBytes(12).toString('base64url');
    const htpasswd = join(work, 'htpasswd');
    // `htpasswd -Bbn` writes $2y$ with cost 5; bcryptjs writes $2b$, the same algorithm.
    await writeFile(htpasswd, `bench:${hashSync(password, BCRYPT_COST).replace(/^\$2b\$/, '$2y$')}\n`);
    const authorization = `Basic ${Buffer.from(`bench:${password}`).toString('base64')}`;
    const authServers = [await startBerth(join(work, 'berth-auth'), htpasswd), await startDistribution(join(work, 'distribution-auth'), htpasswd)];
    try {
      const authRegistries: Subject[] = authServers.map((server) => ({ name: server.name, server, countCpu: true }));
      for (const subject of authRegistries) {
        const c = new RegistryClient(subject.server.url, keepAlive(4), { Authorization: authorization });
        await c.pushSmall('bench/image', config.bytes, config.digest);
        await c.pushSmall('bench/image', layer.bytes, layer.digest);
        await c.putManifest('bench/image', 'latest', manifest, 'application/vnd.oci.image.manifest.v1+json');
        const denied = await call({ method: 'GET', url: manifestUrl(subject), agent: c.agent, headers: { Authorization: 'Basic YmVuY2g6d3Jvbmc=' } });
        if (denied.status !== 401) throw new Error(`${subject.name} answered a wrong password with HTTP ${denied.status}, not 401`);
        c.agent.destroy();
      }
      const bcryptReference: Subject = { name: `bcrypt verify per request (bcryptjs, cost ${BCRYPT_COST}, one thread)`, server: authServers[0]!, countCpu: false };
      const hash = hashSync(password, BCRYPT_COST);
      const authOptions = { ...wrkOptions, headers: { ...wrkOptions.headers, Authorization: authorization } };
      await bench.measure(
        authPull,
        [...authRegistries, bcryptReference],
        async (subject) => {
          if (subject === bcryptReference) {
            let verified = 0;
            const seconds = await timed(async () => {
              for (const started = Date.now(); Date.now() - started < settings.wrkSeconds * 1000; verified++) {
                if (!compareSync(password, hash)) throw new Error('bcrypt verification failed');
              }
            });
            return verified / seconds;
          }
          // wrk fails the sample on any non-2xx answer, so every counted request was authorized.
          return (await wrk(manifestUrl(subject), { ...authOptions, seconds: settings.wrkSeconds })).requestsPerSecond;
        },
        { warm: (subject) => (subject === bcryptReference ? Promise.resolve() : wrk(manifestUrl(subject), { ...authOptions, seconds: settings.warmSeconds })) },
      );
    } finally {
      for (const server of authServers) await server.child.stop();
    }
  }

  // 9. Memory: peak so far, then a 2 GiB push with the peak reset.
  const peakRun = bench.metric('rss-peak-run', 'Resident memory, peak during the run (VmHWM before the 2 GiB push)', 'MiB', 'lower');
  for (const subject of registries) bench.record(peakRun, subject.name, { value: memoryOf(subject.server.pid).hwmMiB });
  const peakPush = bench.metric('rss-push-2g', `Resident memory, peak during a ${settings.memoryBlobMiB} MiB monolithic push`, 'MiB', 'lower');
  const bigPushRate: Record<string, number[]> = {};
  const baseline: Record<string, number[]> = {};
  await bench.measure(
    peakPush,
    registries,
    async (subject) => {
      const body = blob(settings.memoryBlobMiB * MiB);
      const pid = subject.server.pid;
      (baseline[subject.name] ??= []).push(memoryOf(pid).rssMiB);
      const reset = resetPeak(pid);
      const sampler = sampleRss(pid);
      const seconds = await timed(() => client(subject).pushMonolithic('bench/big', body));
      const sampled = sampler.stop();
      (bigPushRate[subject.name] ??= []).push(mibPerSecond(body.size, seconds));
      return reset ? Math.max(memoryOf(pid).hwmMiB, sampled) : sampled;
    },
    { before: settle, repetitions: settings.memoryRepetitions },
  );
  peakPush.note = [
    `RSS just before each push: ${Object.entries(baseline).map(([name, values]) => `${name} ${values.map((value) => value.toFixed(0)).join(', ')} MiB`).join('; ')}`,
    `push rate: ${Object.entries(bigPushRate).map(([name, rates]) => `${name} ${rates.map((rate) => rate.toFixed(0)).join(', ')} MiB/s`).join('; ')}`,
  ].join('; ');

  await sleep(settings.idleSettleMs);
  const idleAfter = bench.metric('rss-idle-after', 'Resident memory, idle after the run (information)', 'MiB', 'lower');
  for (const subject of registries) bench.record(idleAfter, subject.name, { value: memoryOf(subject.server.pid).rssMiB });

  // 10. Lifecycle: garbage collection and registry:2 import, on servers of their own.
  if (enabled('gc') || enabled('import')) await measureLifecycle(bench, work, settings.lifecycleImages);

  // 11. Pull-through caching (issue 11), on servers of its own.
  if (PROXY_METRICS.some(enabled)) {
    await measureProxy(bench, work, { layerMiB: settings.proxyLayerMiB, repetitions: settings.repetitions, wrkSeconds: settings.wrkSeconds, connections: settings.connections, wrkThreads: settings.wrkThreads });
  }

  // 12. Search and the web UI's pages on a large database (issue 12), on a server of its own.
  if (SEARCH_METRICS.some(enabled)) {
    await measureSearch(bench, work, {
      repositories: settings.searchRepositories,
      tagsPerRepository: settings.searchTagsPerRepository,
      pageRequests: settings.searchPageRequests,
      repetitions: settings.repetitions,
      wrkSeconds: settings.wrkSeconds,
      warmSeconds: settings.warmSeconds,
      connections: settings.connections,
      wrkThreads: settings.wrkThreads,
    });
  }

  // 13. What metrics and webhooks cost on the request path (issue 13), on servers of their own.
  if (OBSERVABILITY_METRICS.some(enabled)) {
    await measureObservability(bench, work, {
      repetitions: settings.repetitions,
      wrkSeconds: settings.wrkSeconds,
      warmSeconds: settings.warmSeconds,
      connections: settings.connections,
      wrkThreads: settings.wrkThreads,
      webhookImages: settings.webhookImages,
      concurrency: settings.smallConcurrency,
    });
  }

  // 14. Scale-out on Ceph RGW and PostgreSQL (issue 14), on a Ceph, a PostgreSQL and servers of its own.
  if (SCALEOUT_METRICS.some(enabled)) {
    await measureScaleout(bench, work, settings);
  }

  for (const agent of [pullAgent, referenceAgent, ...parallelAgents.values()]) agent.destroy();
  for (const c of [...clients.values(), ...smallAgents.values()]) c.agent.destroy();
}

async function main(): Promise<number> {
  const started = Date.now();
  const work = await mkdtemp(join(tmpdir(), 'berth-bench-'));
  const bench = new Bench();
  let machine: Machine | undefined;
  let aborted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    aborted = true;
    log(`${signal}: stopping servers`);
    void stopAll()
      .then(() => rm(work, { recursive: true, force: true }))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    machine = machineInfo(work);
    log(`${settings.mode} run, ${settings.repetitions} repetition(s), work directory ${work}`);
    await run(work, bench);
  } catch (error) {
    bench.failures++;
    log(`run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    await stopAll();
    await rm(work, { recursive: true, force: true });
  }
  if (aborted) return 130;

  const metrics = bench.metrics.filter((metric) => enabled(metric.id));
  const results: RunResults = { machine: machine!, settings, metrics, references: bench.references, durationSeconds: (Date.now() - started) / 1000, retakes: bench.retakes };
  const targets = evaluateTargets(results);
  const out = resolve(options.out ?? (only ? join(tmpdir(), 'berth-bench-partial.md') : join(REPO_ROOT, 'docs/benchmarks.md')));
  await mkdir(resolve(out, '..'), { recursive: true });
  await writeFile(out, renderMarkdown(results, targets));
  if (options.json) await writeFile(resolve(options.json), `${JSON.stringify({ ...results, targets }, null, 2)}\n`);
  log(`report written to ${out}${bench.failures ? ` — ${bench.failures} failure(s)` : ''}`);
  for (const target of targets) log(`${target.pass === undefined ? 'n/a ' : target.pass ? 'pass' : 'MISS'}  ${target.target}: ${target.measured}`);
  return bench.failures > 0 ? 1 : 0;
}

/** `--render raw.json`: rewrites the report from the raw data a run saved with --json, measuring nothing. */
async function render(file: string): Promise<number> {
  const saved = JSON.parse(readFileSync(resolve(file), 'utf8')) as RunResults;
  const results: RunResults = { ...saved, retakes: saved.retakes ?? 0 };
  const out = resolve(options.out ?? join(REPO_ROOT, 'docs/benchmarks.md'));
  await writeFile(out, renderMarkdown(results, evaluateTargets(results)));
  log(`report re-rendered from ${file} to ${out}`);
  return 0;
}

process.exitCode = options.render ? await render(options.render) : await main();
