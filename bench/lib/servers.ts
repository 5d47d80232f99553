import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { freePort, spawnChild, waitForHttp, type Child } from './proc.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
/** The Berth build under test: this checkout, or BENCH_BERTH_ROOT (e.g. a built snapshot of a commit). */
export const BERTH_ROOT = resolve(process.env.BENCH_BERTH_ROOT ?? REPO_ROOT);
export const BERTH_CLI = join(BERTH_ROOT, 'dist/cli/main.cjs');
export const DISTRIBUTION_BIN = '/usr/bin/docker-registry';

export interface Server {
  name: string;
  url: string;
  pid: number;
  child: Child;
}

/** One side of a measurement: a server (or a reference running on one) under a name. */
export interface Subject {
  name: string;
  server: Server;
  /** Server CPU is attributed only where the PID does the work (nginx works in a child process). */
  countCpu: boolean;
}

/**
 * The one config.yml both registries get, in registry:2's shape: filesystem storage in a
 * temporary directory, delete enabled, no auth, access log off, level warn (Distribution
 * would otherwise log a "response completed" line per request at info), and the in-memory
 * blob-descriptor cache that registry:2's stock config.yml enables (Berth warns and ignores it).
 * With `htpasswd`, both require Basic credentials from that file (`auth.htpasswd`).
 */
function registryConfig(port: number, root: string, htpasswd?: string, extra: RegistryExtras = {}): string {
  const { http, ...sections } = extra;
  return stringify({
    ...(htpasswd ? { auth: { htpasswd: { realm: 'bench', path: htpasswd } } } : {}),
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: root },
      delete: { enabled: true },
      cache: { blobdescriptor: 'inmemory' },
    },
    ...sections,
    http: { addr: `127.0.0.1:${port}`, ...http },
  });
}

/** Sections added to the shared config (e.g. `proxy`, `notifications`, `http.debug`), for the metrics that need them. */
export interface RegistryExtras {
  http?: Record<string, unknown>;
  [section: string]: unknown;
}

async function startRegistry(name: string, command: string, args: (config: string) => string[], directory: string, htpasswd?: string, extra?: RegistryExtras): Promise<Server> {
  await mkdir(join(directory, 'storage'), { recursive: true });
  const port = await freePort();
  const config = join(directory, 'config.yml');
  await writeFile(config, registryConfig(port, join(directory, 'storage'), htpasswd, extra));
  // REGISTRY_* would override the config; AWS_* too (credentials, and AWS_CA_BUNDLE makes
  // Distribution's S3 driver panic at start: its HTTP transport cannot take a CA bundle).
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('REGISTRY_') && !key.startsWith('AWS_') && value !== undefined) env[key] = value;
  const child = spawnChild(name, command, args(config), { cwd: directory, env });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/v2/`, child);
  return { name, url, pid: child.pid, child };
}

/** The node flags the CLI's shebang asks for (none for builds older than the shebang's flags). */
function cliNodeFlags(): string[] {
  const shebang = readFileSync(BERTH_CLI, 'utf8').split('\n', 1)[0]!;
  return (/^#!\/usr\/bin\/env -S node(.*)$/.exec(shebang)?.[1] ?? '').split(' ').filter(Boolean);
}

/**
 * Berth's compiled CLI as `berth serve config.yml` runs it: node with the flags of the CLI's
 * shebang; extra node flags (e.g. --cpu-prof) from BENCH_BERTH_NODE_ARGS.
 */
export function startBerth(directory: string, htpasswd?: string, extra?: RegistryExtras): Promise<Server> {
  const nodeArgs = [...cliNodeFlags(), ...(process.env.BENCH_BERTH_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  return startRegistry('Berth', process.execPath, (config) => [...nodeArgs, BERTH_CLI, 'serve', config], directory, htpasswd, extra);
}

export function startDistribution(directory: string, htpasswd?: string, extra?: RegistryExtras): Promise<Server> {
  return startRegistry('Distribution', DISTRIBUTION_BIN, (config) => ['serve', config], directory, htpasswd, extra);
}

/**
 * nginx as the static-file reference: one worker, access log off, the test file under
 * /sendfile/ (sendfile on) and /copy/ (sendfile off, 1 MiB output buffers — the read size
 * Berth uses), and /put/ accepting PUT through the dav module (body spooled to a temp file
 * in the same filesystem, then renamed, no fsync).
 */
export async function startNginx(directory: string, filesDirectory: string): Promise<Server> {
  const port = await freePort();
  for (const sub of ['body', 'put', 'logs']) await mkdir(join(directory, sub), { recursive: true });
  const conf = `
user root;
worker_processes 1;
pid ${join(directory, 'nginx.pid')};
error_log ${join(directory, 'logs', 'error.log')} warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000;
  client_body_temp_path ${join(directory, 'body')};
  client_max_body_size 0;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    location = /health { return 200; }
    location /sendfile/ { alias ${filesDirectory}/; sendfile on; tcp_nopush on; }
    location /copy/ { alias ${filesDirectory}/; sendfile off; output_buffers 2 1m; }
    location /put/ { alias ${join(directory, 'put')}/; dav_methods PUT; create_full_put_path on; }
  }
}
`;
  const confPath = join(directory, 'nginx.conf');
  await writeFile(confPath, conf);
  const child = spawnChild('nginx', 'nginx', ['-p', directory, '-c', confPath, '-e', join(directory, 'logs', 'error.log')], { cwd: directory });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/health`, child);
  return { name: 'nginx', url, pid: child.pid, child };
}

/** The minimal Node upload handler (bench/upload-server.ts). */
export async function startUploadReference(directory: string): Promise<Server> {
  await mkdir(directory, { recursive: true });
  const port = await freePort();
  const child = spawnChild('node-upload', process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench/upload-server.ts'), String(port), directory], { cwd: REPO_ROOT });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/`, child);
  return { name: 'node-upload', url, pid: child.pid, child };
}
