/**
 * Berth's CPU per cold pull through a proxy, for profiling the fill path: an upstream
 * Distribution holding one image (a config and one layer), and Berth builds given on the
 * command line (checkout roots with a built `dist/`) started in turn, each fresh on empty
 * storage, as registry:2-style pull-through caches of it. Per sample: Berth's CPU seconds
 * (utime + stime from /proc) over one cold pull and over 16 concurrent cold pulls of one
 * image, the layer's time to first byte, and the wall times. Alternating the builds in one
 * run keeps the comparison on the same machine load.
 *
 *   npx tsx bench/proxy-cpu.ts [--mib 256] [--reps 3] ROOT...
 */
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { RandomFile, smallBlob, OCI_MANIFEST, ociManifest } from './lib/blob.js';
import { keepAlive, RegistryClient } from './lib/http.js';
import { cpuSecondsOf, freePort, spawnChild, waitForHttp, type Child } from './lib/proc.js';
import { startDistribution, type Server } from './lib/servers.js';
import { median } from './lib/stats.js';
import { CountingRelay } from './lib/proxy.js';

const MiB = 1024 * 1024;
const REPOSITORY = 'bench/proxied';
const CONCURRENT = 16;

const { values, positionals } = parseArgs({ options: { mib: { type: 'string', default: '256' }, reps: { type: 'string', default: '3' }, relay: { type: 'boolean', default: false } }, allowPositionals: true });
const roots = positionals.map((root) => resolve(root));
if (roots.length === 0) throw new Error('name at least one Berth checkout root (with dist/ built)');

/**
 * BENCH_TRACE=perf: `perf record -g` of the server over the pulls (run Berth with
 * --perf-basic-prof for JS names); BENCH_TRACE=strace: its system calls counted (`strace -c -f`).
 */
function trace(pid: number, output: string): Child | undefined {
  if (process.env.BENCH_TRACE === 'perf') return spawnChild('perf', 'perf', ['record', '-F', '499', '-g', '-p', String(pid), '-o', `${output}.perf.data`]);
  if (process.env.BENCH_TRACE === 'strace') return spawnChild('strace', 'strace', [...(process.env.BENCH_STRACE_ARGS ?? '-c').split(' '), '-f', '-p', String(pid), '-o', `${output}.strace.txt`]);
  return undefined;
}

async function startBerthAt(root: string, directory: string, upstream: string): Promise<Server> {
  await mkdir(join(directory, 'storage'), { recursive: true });
  const port = await freePort();
  const config = join(directory, 'config.yml');
  await writeFile(config, stringify({ version: 0.1, log: { level: 'warn', accesslog: { disabled: true } }, storage: { filesystem: { rootdirectory: join(directory, 'storage') } }, proxy: { remoteurl: upstream }, http: { addr: `127.0.0.1:${port}` } }));
  const cli = join(root, 'dist/cli/main.cjs');
  // The node flags of the CLI's shebang, as `berth serve` runs; extra ones (--cpu-prof) from BENCH_BERTH_NODE_ARGS.
  const shebangFlags = (/^#!\/usr\/bin\/env -S node(.*)$/.exec(readFileSync(cli, 'utf8').split('\n', 1)[0]!)?.[1] ?? '').split(' ');
  const nodeArgs = [...shebangFlags, ...(process.env.BENCH_BERTH_NODE_ARGS ?? '').split(' ')].filter(Boolean);
  const child = spawnChild('Berth', process.execPath, [...nodeArgs, cli, 'serve', config], { cwd: directory });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/v2/`, child);
  return { name: 'Berth', url, pid: child.pid, child };
}

function layerGet(url: string, agent: ReturnType<typeof keepAlive>): Promise<{ firstByteMs: number; bytes: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
      let firstByteMs: number | undefined;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        firstByteMs ??= Number(process.hrtime.bigint() - started) / 1e6;
        bytes += chunk.length;
      });
      res.once('end', () => resolve({ firstByteMs: firstByteMs ?? 0, bytes }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

async function pull(base: string, config: { digest: string }, layer: { digest: string; size: number }): Promise<number> {
  const agent = keepAlive(2);
  try {
    const client = new RegistryClient(base, agent);
    await client.get(`/v2/${REPOSITORY}/manifests/latest`, { Accept: OCI_MANIFEST });
    await client.pullBlob(REPOSITORY, config.digest);
    const got = await layerGet(`${base}/v2/${REPOSITORY}/blobs/${layer.digest}`, agent);
    if (got.bytes !== layer.size) throw new Error(`got ${got.bytes} of ${layer.size} layer bytes`);
    return got.firstByteMs;
  } finally {
    agent.destroy();
  }
}

const work = await mkdtemp(join(tmpdir(), 'berth-proxy-cpu-'));
const servers = new Set<Server>();
try {
  const mib = Number(values.mib);
  const config = smallBlob(512);
  const layer = RandomFile.create(join(work, 'layer.bin'), mib * MiB).blob(mib * MiB);
  const upstream = await startDistribution(join(work, 'upstream'));
  servers.add(upstream);
  const client = new RegistryClient(upstream.url, keepAlive(2));
  await client.pushSmall(REPOSITORY, config.bytes, config.digest);
  await client.pushMonolithic(REPOSITORY, layer);
  await client.putManifest(REPOSITORY, 'latest', ociManifest(config, layer), OCI_MANIFEST);
  client.agent.destroy();
  // --relay: the proxies reach the upstream through the benchmark's byte-counting TCP relay, as bench/lib/proxy.ts does.
  const relay = values.relay ? await CountingRelay.start(upstream.url) : undefined;
  const upstreamUrl = relay?.url ?? upstream.url;
  const direct: number[] = [];
  for (let rep = 0; rep < 3; rep++) direct.push(await pull(upstreamUrl, config, layer));
  console.log(`upstream directly${relay ? ' (through the relay)' : ''}: layer TTFB ms ${direct.map((ms) => ms.toFixed(1)).join(' ')}`);

  const results = new Map(roots.map((root) => [root, { cpu: [] as number[], ttfb: [] as number[], wall: [] as number[], cpu16: [] as number[], wall16: [] as number[], warm: [] as number[] }]));
  let sample = 0;
  for (let rep = 0; rep < Number(values.reps); rep++) {
    for (const root of roots) {
      const result = results.get(root)!;
      for (const concurrent of [1, CONCURRENT]) {
        const berth = await startBerthAt(root, join(work, `berth-${sample++}`), upstreamUrl);
        servers.add(berth);
        try {
          const tracer = trace(berth.pid, join(work, '..', `berth-proxy-cpu-${concurrent}`));
          const before = cpuSecondsOf(berth.pid);
          const started = process.hrtime.bigint();
          const ttfbs = await Promise.all(Array.from({ length: concurrent }, () => pull(berth.url, config, layer))).catch((error: unknown) => {
            throw new Error(`${concurrent} cold pull(s) from ${root} failed: ${String(error)}; the server said: ${berth.child.output()}`);
          });
          const wall = Number(process.hrtime.bigint() - started) / 1e6;
          const cpu = cpuSecondsOf(berth.pid) - before;
          // A warm pull right after (as the benchmark does): the cache must answer it.
          const warmStarted = process.hrtime.bigint();
          if (process.env.BENCH_WARM === '1') await pull(berth.url, config, layer).catch((error: unknown) => {
            throw new Error(`warm pull from ${root} failed: ${String(error)}; the server said: ${berth.child.output()}`);
          });
          if (process.env.BENCH_WARM === '1' && concurrent === 1) result.warm.push(Number(process.hrtime.bigint() - warmStarted) / 1e6);
          await tracer?.stop();
          if (concurrent === 1) {
            result.cpu.push(cpu);
            result.wall.push(wall);
            result.ttfb.push(ttfbs[0]!);
          } else {
            result.cpu16.push(cpu);
            result.wall16.push(wall);
          }
        } finally {
          servers.delete(berth);
          await berth.child.stop();
        }
      }
    }
  }
  const show = (list: number[], digits = 2) => `${median(list).toFixed(digits)} [${list.map((value) => value.toFixed(digits)).join(' ')}]`;
  for (const [root, result] of results) {
    console.log(root);
    console.log(`  1 cold pull:   CPU s ${show(result.cpu)}  wall ms ${show(result.wall, 0)}  layer TTFB ms ${show(result.ttfb, 1)}`);
    if (result.warm.length > 0) console.log(`  warm pull after it: wall ms ${show(result.warm, 0)}`);
    console.log(`  ${CONCURRENT} concurrent: CPU s ${show(result.cpu16)}  wall ms ${show(result.wall16, 0)}`);
  }
  await relay?.close();
} finally {
  for (const server of servers) await server.child.stop();
  await rm(work, { recursive: true, force: true });
}
