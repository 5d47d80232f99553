import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A Docker daemon (Debian `docker.io`) of a test's own: its data root, exec root, socket and
 * pidfile in a scratch directory, no iptables or bridge (loopback registries only, as
 * /work/shared/CLIENTS.md measured), stopped by its own PID.
 */
export interface Dockerd {
  /** Environment for the `docker` CLI: this daemon's socket and a client config directory of its own. */
  env: NodeJS.ProcessEnv;
  /** Runs the `docker` CLI against this daemon; its stdout, or an error with what it printed. */
  docker(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** `registry-mirrors` in daemon.json (each also insecure-allowed: loopback, plain HTTP). */
  registryMirrors?: string[];
  /** HTTPS_PROXY for the daemon's registry connections (a CONNECT proxy on loopback). */
  httpsProxy?: string;
  timeoutMs?: number;
}

/** Starts dockerd and resolves once it says its API listens (it logs that line when ready). */
export async function startDockerd(options: DockerdOptions = {}): Promise<Dockerd> {
  const { registryMirrors = [], httpsProxy, timeoutMs = 60_000 } = options;
  // The exec root holds containerd's socket, whose path must stay short.
  const dir = await mkdtemp(join(tmpdir(), 'bdk-'));
  const socket = join(dir, 'docker.sock');
  const config = join(dir, 'daemon.json');
  await writeFile(config, JSON.stringify({ 'registry-mirrors': registryMirrors, 'insecure-registries': registryMirrors.map((mirror) => new URL(mirror).host) }));
  const child: ChildProcess = spawn('dockerd', [
    '--config-file', config, '--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs',
    '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'),
    '-H', `unix://${socket}`, '--pidfile', join(dir, 'docker.pid'),
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: httpsProxy ? { ...process.env, HTTPS_PROXY: httpsProxy } : process.env });
  let log = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dockerd did not become ready within ${timeoutMs} ms:\n${log}`)), timeoutMs);
      const watch = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('API listen on')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', watch);
      child.stderr!.on('data', watch);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dockerd exited (${code}) before it was ready:\n${log}`));
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  // DOCKER_BUILDKIT=0: `docker build` uses the daemon's own builder (BuildKit needs runnable containers).
  const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'client'), DOCKER_BUILDKIT: '0' };
  const docker = async (args: string[]) => {
    try {
      return (await run('docker', args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env })).stdout;
    } catch (error) {
      const failure = error as { stderr?: string; stdout?: string; code?: number };
      throw new Error(`docker ${args.join(' ')} failed (${failure.code}): ${failure.stderr ?? ''}${failure.stdout ?? ''}`);
    }
  };
  return { env, docker, stop };
}
