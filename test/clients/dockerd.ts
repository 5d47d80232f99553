import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A Docker engine of the test's own (data root, exec root, socket and pidfile under `dir`; no
 * iptables, no bridge, vfs storage), with `registry-mirrors` pointing at Berth. Stopped by its PID.
 */
export class Dockerd {
  private child?: ChildProcess;
  readonly socket: string;

  constructor(private readonly dir: string) {
    this.socket = join(dir, 'd.sock');
  }

  async start(mirror: string): Promise<void> {
    const config = join(this.dir, 'daemon.json');
    await mkdir(join(this.dir, 'data'), { recursive: true });
    await writeFile(config, JSON.stringify({ 'registry-mirrors': [mirror], 'insecure-registries': [new URL(mirror).host] }));
    const child = spawn('dockerd', [
      '--config-file', config, '--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs',
      '--data-root', join(this.dir, 'data'), '--exec-root', join(this.dir, 'exec'), '-H', `unix://${this.socket}`,
      '--pidfile', join(this.dir, 'd.pid'),
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dockerd did not start within 60 s:\n${output}`)), 60_000);
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('API listen on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dockerd exited with ${code}:\n${output}`));
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid!, 'SIGTERM');
    await exited;
  }

  async docker(args: string[]): Promise<string> {
    try {
      const { stdout } = await run('docker', args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, DOCKER_HOST: `unix://${this.socket}`, DOCKER_CONFIG: join(this.dir, 'cli') } });
      return stdout;
    } catch (error) {
      const failure = error as { stderr?: string; stdout?: string; code?: number };
      throw new Error(`docker ${args.join(' ')} failed (${failure.code}): ${failure.stderr ?? ''}${failure.stdout ?? ''}`);
    }
  }
}
