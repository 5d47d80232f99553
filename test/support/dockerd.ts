import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A Docker daemon (Debian `docker.io`) of a test's own: its data root, exec root, socket and
 * pidfile in a scratch directory, no iptables or bridge (loopback registries only, as
 * /work/shared/CLIENTS.md measured), stopped by its own PID.
 */
export interface Dockerd {
  /** Environment for the `docker` CLI: this daemon's socket and a client config directory of its own. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** Starts dockerd and resolves once it says its API listens (it logs that line when ready). */
export async function startDockerd(timeoutMs = 60_000): Promise<Dockerd> {
  // The exec root holds containerd's socket, whose path must stay short.
  const dir = await mkdtemp(join(tmpdir(), 'bdk-'));
  const socket = join(dir, 'docker.sock');
  const child: ChildProcess = spawn('dockerd', [
    '--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs',
    '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'),
    '-H', `unix://${socket}`, '--pidfile', join(dir, 'docker.pid'),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  return { env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'client') }, stop };
}
