import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { digestOf } from './blob.js';
import { call, keepAlive, RegistryClient } from './http.js';
import { BERTH, DISTRIBUTION, type MetricResult, type Sample } from './results.js';
import { BERTH_CLI, DISTRIBUTION_BIN, startBerth, startDistribution, type Server } from './servers.js';
import { percentile, pool } from './stats.js';

const run = promisify(execFile);
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Where lifecycle metrics are recorded (the harness's Bench). */
export interface Recorder {
  metric(id: string, title: string, unit: string, better: 'higher' | 'lower', note?: string): MetricResult;
  record(metric: MetricResult, subject: string, sample: Sample): void;
  fail(metric: MetricResult, error: unknown): void;
}

export const IMPORT_REPUSH = 'Berth re-push of the same images (HTTP, concurrency 16)';
export const IMPORT_SKOPEO = 'skopeo copy of the same images from Distribution into Berth (4 at a time)';
/** skopeo's rate is sampled on this many images: one process per image is slow. */
const SKOPEO_SAMPLE = 100;

interface Image {
  repository: string;
  tag: string;
  config: Buffer;
  layer: Buffer;
  manifest: Buffer;
}

/**
 * Garbage collection and registry:2 import on the same content for both registries:
 * `images` images (a shared base layer, a unique 48 KiB layer and config each) in 40 repositories,
 * one in four deleted by digest. Distribution collects offline (stopped, as it must); Berth
 * online while pulls of the kept images go on (their p99 is noted). Then Berth imports Distribution's collected tree (`berth import`), against
 * re-pushing the same kept images into a fresh Berth over HTTP.
 */
export async function measureLifecycle(recorder: Recorder, work: string, images: number): Promise<void> {
  const gc = recorder.metric('gc', `Garbage collection of ${images} images, 1 in 4 deleted (Berth online while serving pulls; Distribution offline)`, 'ms', 'lower');
  const imported = recorder.metric('import', `registry:2 tree of ${images * 0.75} images served by Berth: berth import vs re-pushing them`, 'images/s', 'higher');
  const content = makeImages(images);
  const base = randomBytes(64 * 1024);
  let distributionRoot: string | undefined;
  try {
    const notes: string[] = [];
    for (const [name, start] of [[DISTRIBUTION, startDistribution], [BERTH, startBerth]] as const) {
      const directory = join(work, `gc-${name.toLowerCase()}`);
      const server = await start(directory);
      const client = new RegistryClient(server.url, keepAlive(16));
      await populate(client, base, content);
      await pool(content.length, 16, async (index) => {
        if (index % 4 !== 0) return;
        const image = content[index]!;
        await client.delete(`/v2/${image.repository}/manifests/${digestOf(image.manifest)}`);
      });
      const config = join(directory, 'config.yml');
      // Both collections start with the seeding's writes on disk: neither pays for the writeback of
      // the other's (or its own seeding's) files in its fsyncs and unlinks.
      await run('sync');
      if (name === DISTRIBUTION) {
        await server.child.stop();
        const started = process.hrtime.bigint();
        await run(DISTRIBUTION_BIN, ['garbage-collect', config], { maxBuffer: 256 * 1024 * 1024 });
        recorder.record(gc, name, { value: Number(process.hrtime.bigint() - started) / 1e6 });
        distributionRoot = directory;
      } else {
        const { ms, p99, pulls, phases } = await collectWhilePulling(server, client, content);
        recorder.record(gc, name, { value: ms });
        notes.push(`Berth collected while ${pulls} pulls of kept images ran beside it (p99 ${p99.toFixed(1)} ms, every pull answered); its report's steps: ${phases}`);
        await server.child.stop();
      }
    }
    gc.note = [...notes, 'each collection starts after a sync (the seeding written back)'].join('; ');
  } catch (error) {
    recorder.fail(gc, error);
  }

  try {
    if (!distributionRoot) throw new Error('no registry:2 tree to import (the garbage-collection step failed)');
    const kept = content.filter((_, index) => index % 4 !== 0);
    recorder.record(imported, IMPORT_SKOPEO, { value: await skopeoRate(work, distributionRoot, kept.slice(0, SKOPEO_SAMPLE)) });
    const config = join(work, 'import-config.yml');
    await writeImportConfig(config, join(distributionRoot, 'storage'));
    const started = process.hrtime.bigint();
    await run(process.execPath, [BERTH_CLI, 'import', config], { maxBuffer: 64 * 1024 * 1024 });
    recorder.record(imported, BERTH, { value: kept.length / (Number(process.hrtime.bigint() - started) / 1e9) });

    const server = await startBerth(join(work, 'import-repush'));
    try {
      const client = new RegistryClient(server.url, keepAlive(16));
      const pushStarted = process.hrtime.bigint();
      await populate(client, base, kept);
      recorder.record(imported, IMPORT_REPUSH, { value: kept.length / (Number(process.hrtime.bigint() - pushStarted) / 1e9) });
    } finally {
      await server.child.stop();
    }
  } catch (error) {
    recorder.fail(imported, error);
  }
}

/** Migrating the way people do without an import: skopeo copies each image from the old registry (serving the collected tree). */
async function skopeoRate(work: string, distributionDirectory: string, images: Image[]): Promise<number> {
  const source = await startDistribution(distributionDirectory);
  const target = await startBerth(join(work, 'skopeo-target'));
  try {
    const host = (server: Server) => new URL(server.url).host;
    const started = process.hrtime.bigint();
    await pool(images.length, 4, async (index) => {
      const { repository, tag } = images[index]!;
      await run('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host(source)}/${repository}:${tag}`, `docker://${host(target)}/${repository}:${tag}`]);
    });
    return images.length / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    await source.child.stop();
    await target.child.stop();
  }
}

function makeImages(count: number): Image[] {
  return Array.from({ length: count }, (_, index) => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: new Date(index * 1000).toISOString(), rootfs: { type: 'layers', diff_ids: [] } }));
    // Larger than Berth keeps in a blob's database row (32 KiB): each deleted image leaves a file
    // to delete, as a real layer would; manifests and configs are small, as real ones are.
    const layer = randomBytes(48 * 1024);
    return { repository: `gc/app-${index % 40}`, tag: `v${index}`, config, layer, manifest: Buffer.alloc(0) };
  });
}

async function populate(client: RegistryClient, base: Buffer, images: Image[]): Promise<void> {
  const baseDigest = digestOf(base);
  await client.pushSmall('gc/base', base, baseDigest);
  const mounted = new Map<string, Promise<void>>();
  await pool(images.length, 16, async (index) => {
    const image = images[index]!;
    if (!mounted.has(image.repository)) mounted.set(image.repository, client.mount(image.repository, 'gc/base', baseDigest));
    await mounted.get(image.repository);
    await client.pushSmall(image.repository, image.config, digestOf(image.config));
    await client.pushSmall(image.repository, image.layer, digestOf(image.layer));
    image.manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(image.config), size: image.config.length },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: baseDigest, size: base.length },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(image.layer), size: image.layer.length },
      ],
    }));
    await client.putManifest(image.repository, image.tag, image.manifest, OCI_MANIFEST);
  });
}

/**
 * Collects online — as the schedule or the admin API runs it, inside the server (`berth
 * garbage-collect` beside a server does the same through its control socket, plus Node's
 * start-up) — while four clients pull kept images; latencies in ms.
 */
async function collectWhilePulling(server: Server, client: RegistryClient, images: Image[]): Promise<{ ms: number; p99: number; pulls: number; phases: string }> {
  const kept = images.filter((_, index) => index % 4 !== 0);
  const latencies: number[] = [];
  let collecting = true;
  const pullers = Array.from({ length: 4 }, async (_, worker) => {
    for (let next = worker; collecting; next += 4) {
      const image = kept[next % kept.length]!;
      const started = process.hrtime.bigint();
      await client.get(`/v2/${image.repository}/manifests/${image.tag}`, { Accept: OCI_MANIFEST });
      await client.pullBlob(image.repository, digestOf(image.layer));
      latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  });
  const started = process.hrtime.bigint();
  let phases = '';
  try {
    const reply = await call({ method: 'POST', url: `${server.url}/api/v1/gc`, agent: keepAlive(1) });
    if (reply.status !== 200) throw new Error(`POST /api/v1/gc answered ${reply.status}: ${reply.body.toString().slice(0, 300)}`);
    const report = JSON.parse(reply.body.toString()) as { bytesFreed: number; phases?: { phase: string; ms: number; cpuMs: number }[] };
    if (!(report.bytesFreed > 0)) throw new Error("Berth's collection freed nothing");
    phases = (report.phases ?? []).map((phase) => `${phase.phase} ${phase.ms.toFixed(0)} ms (CPU ${phase.cpuMs.toFixed(0)})`).join(', ');
  } finally {
    collecting = false;
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await Promise.all(pullers);
  if (server.child.process.exitCode !== null) throw new Error('Berth stopped during its collection');
  return { ms, p99: percentile(latencies, 0.99), pulls: latencies.length, phases };
}

async function writeImportConfig(path: string, root: string): Promise<void> {
  await writeFile(path, stringify({ version: 0.1, log: { level: 'warn' }, storage: { filesystem: { rootdirectory: root } } }));
}
