import { join } from 'node:path';
import type { MetadataStore } from '../../src/metadata/store.js';
import { smallBlob } from './blob.js';
import { call, keepAlive, RegistryClient } from './http.js';
import type { Recorder } from './lifecycle.js';
import { wrk } from './load.js';
import { BERTH } from './results.js';
import { BERTH_ROOT, startBerth, type Server } from './servers.js';
import { median } from './stats.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const SORTS = ['name', 'pushed', 'size', 'pulled'] as const;
export const SEARCH_METRICS = ['search-api', ...SORTS.map((sort) => `ui-repositories-${sort}`), 'ui-search', 'ui-tags'];

export interface SearchSettings {
  repositories: number;
  tagsPerRepository: number;
  /** Sequential requests per page whose median is the page's server time. */
  pageRequests: number;
  repetitions: number;
  wrkSeconds: number;
  warmSeconds: number;
  connections: number;
  wrkThreads: number;
}

/** `team-<i mod 100>/app-<i>`: searching `app-42` finds app-42, app-420…, app-4200…: a page and more. */
const repositoryName = (index: number) => `team-${index % 100}/app-${index}`;
const SEARCH_TERM = 'app-42';

/**
 * Issue 12's rows, Berth only (Distribution has no search and no UI): `repositories` repositories
 * with `tagsPerRepository` tags each. One image per tag (a shared config and layer, a manifest
 * of its own by annotation) is pushed over HTTP into a seed repository; then, with the server
 * stopped, the other repositories are written straight through the build's own SQLite metadata
 * store (as its pushes would, but without an fsync per row), so the database holds what that
 * many pushes leave. The server then runs without access control, so the UI serves loopback
 * clients as its operator (no login).
 */
export async function measureSearch(recorder: Recorder, work: string, settings: SearchSettings): Promise<void> {
  const tags = settings.repositories * settings.tagsPerRepository;
  const scale = `${settings.repositories.toLocaleString('en-US')} repositories, ${tags.toLocaleString('en-US')} tags`;
  const api = recorder.metric('search-api', `/v1/search?q=${SEARCH_TERM} (wrk, ${settings.connections} connections; ${scale})`, 'req/s', 'higher');
  const lists = SORTS.map((sort) => recorder.metric(`ui-repositories-${sort}`, `UI repository list sorted by ${sort}, server time (median of ${settings.pageRequests}; ${scale})`, 'ms', 'lower'));
  const searchPage = recorder.metric('ui-search', `UI search page ?q=${SEARCH_TERM}, server time (median of ${settings.pageRequests}; ${scale})`, 'ms', 'lower');
  const tagPage = recorder.metric('ui-tags', `UI tag page of one repository (${settings.tagsPerRepository} tags), server time (median of ${settings.pageRequests}; ${scale})`, 'ms', 'lower');
  const all = [api, ...lists, searchPage, tagPage];

  const directory = join(work, 'search');
  let server: Server | undefined;
  try {
    server = await startBerth(directory);
    const seeded = await seedImages(server, settings.tagsPerRepository);
    await server.child.stop();
    const started = process.hrtime.bigint();
    await fillDatabase(join(directory, 'storage', 'berth.sqlite'), settings.repositories, seeded);
    const fillSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    server = await startBerth(directory);

    const agent = keepAlive(1);
    const pageTime = async (path: string, expect: string): Promise<number> => {
      const latencies: number[] = [];
      for (let request = 0; request < settings.pageRequests; request++) {
        const began = process.hrtime.bigint();
        const reply = await call({ method: 'GET', url: `${server!.url}${path}`, agent });
        latencies.push(Number(process.hrtime.bigint() - began) / 1e6);
        if (reply.status !== 200 || !reply.body.toString().includes(expect)) throw new Error(`GET ${path}: HTTP ${reply.status} without "${expect}": ${reply.body.toString().slice(0, 300)}`);
      }
      return median(latencies);
    };
    const pages: [(typeof all)[number], string, string][] = [
      ...lists.map((metric, index): [(typeof all)[number], string, string] => [metric, `/ui/?sort=${SORTS[index]}`, 'app-']),
      [searchPage, `/ui/?q=${SEARCH_TERM}`, repositoryName(42)],
      [tagPage, `/ui/repositories/${repositoryName(7)}`, `t${settings.tagsPerRepository - 1}`],
    ];
    const searchUrl = `${server.url}/v1/search?q=${SEARCH_TERM}`;
    const found = JSON.parse((await call({ method: 'GET', url: searchUrl, agent })).body.toString()) as { num_results: number };
    if (!(found.num_results > 0)) throw new Error(`/v1/search?q=${SEARCH_TERM} found nothing`);
    await wrk(searchUrl, { connections: settings.connections, threads: settings.wrkThreads, seconds: settings.warmSeconds });
    for (const [, path, expect] of pages) await pageTime(path, expect); // warm-up
    for (let repetition = 0; repetition < settings.repetitions; repetition++) {
      recorder.record(api, BERTH, { value: (await wrk(searchUrl, { connections: settings.connections, threads: settings.wrkThreads, seconds: settings.wrkSeconds })).requestsPerSecond });
      for (const [metric, path, expect] of pages) recorder.record(metric, BERTH, { value: await pageTime(path, expect) });
    }
    agent.destroy();
    api.note = `Search and UI rows: the seed image's ${settings.tagsPerRepository} manifests pushed over HTTP, the other repositories written through the metadata store in ${fillSeconds.toFixed(1)} s; /v1/search?q=${SEARCH_TERM} finds ${found.num_results}; UI pages served to a loopback client of a registry without access control (the operator, no login), each the time to the last byte of one request on one keep-alive connection`;
  } catch (error) {
    for (const metric of all) if (!metric.error) recorder.fail(metric, error);
  } finally {
    await server?.child.stop();
  }
}

interface SeededImages {
  config: { digest: string; size: number };
  layer: { digest: string; size: number };
  manifests: { digest: string; size: number }[];
}

/** `seed/base` with one manifest per tag, t0…t{n-1}, sharing a config and a layer. */
async function seedImages(server: Server, count: number): Promise<SeededImages> {
  const client = new RegistryClient(server.url, keepAlive(2));
  const config = smallBlob(512);
  const layer = smallBlob(4096);
  await client.pushSmall('seed/base', config.bytes, config.digest);
  await client.pushSmall('seed/base', layer.bytes, layer.digest);
  const manifests: SeededImages['manifests'] = [];
  for (let index = 0; index < count; index++) {
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.bytes.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.bytes.length }],
        annotations: { 'org.opencontainers.image.description': `benchmark image ${index}` },
      }),
    );
    await client.putManifest('seed/base', `t${index}`, bytes, OCI_MANIFEST);
    const reply = await client.get(`/v2/seed/base/manifests/t${index}`, { Accept: OCI_MANIFEST });
    manifests.push({ digest: String(reply.headers['docker-content-digest']), size: bytes.length });
  }
  client.agent.destroy();
  return { config: { digest: config.digest, size: config.bytes.length }, layer: { digest: layer.digest, size: layer.bytes.length }, manifests };
}

/**
 * Every repository gets the seed's blobs linked and its manifests tagged t0…, through the
 * store of the build under test (dist/, so a BENCH_BERTH_ROOT snapshot writes its own schema).
 * The clock advances per row so that "pushed" orders the repositories.
 */
async function fillDatabase(path: string, repositories: number, seeded: SeededImages): Promise<void> {
  // Builds before the SQL seam export the class; later ones a function that opens and migrates.
  const module = (await import(join(BERTH_ROOT, 'dist/metadata/sqlite/sqlite-store.js'))) as {
    SqliteMetadataStore?: new (path: string, clock: () => number) => MetadataStore;
    openSqliteMetadataStore?: (path: string, clock: () => number) => Promise<MetadataStore>;
  };
  let now = Date.now() - 86_400_000;
  const store = module.openSqliteMetadataStore ? await module.openSqliteMetadataStore(path, () => now++) : new module.SqliteMetadataStore!(path, () => now++);
  // Bulk loading: the rows need no fsync each (the server is stopped; the file is closed before it starts).
  const connection = (store as unknown as { db: { pragma?(statement: string): unknown; exec?(sql: string): Promise<void> } }).db;
  if (connection.pragma) connection.pragma('synchronous = OFF');
  else await connection.exec!('PRAGMA synchronous = OFF');
  try {
    for (let index = 0; index < repositories; index++) {
      const repository = repositoryName(index) as Parameters<MetadataStore['linkBlobs']>[0];
      await store.linkBlobs(repository, [seeded.config, seeded.layer] as Parameters<MetadataStore['linkBlobs']>[1]);
      for (const [tag, manifest] of seeded.manifests.entries()) {
        await store.putManifest({
          repository,
          manifest: { digest: manifest.digest, mediaType: OCI_MANIFEST, size: manifest.size, description: `benchmark image ${tag}` } as Parameters<MetadataStore['putManifest']>[0]['manifest'],
          blobReferences: [seeded.config.digest, seeded.layer.digest] as Parameters<MetadataStore['putManifest']>[0]['blobReferences'],
          manifestReferences: [],
          tag: `t${tag}` as Parameters<MetadataStore['putManifest']>[0]['tag'],
        });
      }
    }
  } finally {
    await store.close();
  }
}
