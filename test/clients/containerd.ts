import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A containerd of the test's own (config, root, state and socket under `dir`, no CRI), and `ctr`
 * against it. Stopped by its own PID.
 */
export class Containerd {
  private child?: ChildProcess;
  readonly socket: string;

  constructor(private readonly dir: string) {
    this.socket = join(dir, 'c.sock');
  }

  async start(): Promise<void> {
    const config = join(this.dir, 'config.toml');
    await writeFile(config, [
      'version = 2',
      `root = "${join(this.dir, 'root')}"`,
      `state = "${join(this.dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${this.socket}"`,
      '[ttrpc]',
      `  address = "${this.socket}.ttrpc"`,
      '',
    ].join('\n'));
    const child = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`containerd did not start within 30 s:\n${output}`)), 30_000);
      createInterface({ input: child.stderr! }).on('line', (line) => {
        output += `${line}\n`;
        if (line.includes('containerd successfully booted')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`containerd exited with ${code}:\n${output}`));
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

  /**
   * A hosts directory where `upstreamHost` (host:port) is mirrored by `mirrorUrl`; the upstream is
   * also named as `server`, so nothing can fall back to the internet.
   */
  async mirror(upstreamHost: string, mirrorUrl: string): Promise<string> {
    const hosts = join(this.dir, 'hosts');
    await mkdir(join(hosts, upstreamHost), { recursive: true });
    await writeFile(join(hosts, upstreamHost, 'hosts.toml'), [
      `server = "http://${upstreamHost}"`,
      '',
      `[host."${mirrorUrl}"]`,
      '  capabilities = ["pull", "resolve"]',
      '',
    ].join('\n'));
    return hosts;
  }

  async ctr(args: string[]): Promise<string> {
    try {
      const { stdout } = await run('ctr', ['--address', this.socket, '--namespace', 'berth', ...args], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (error) {
      const failure = error as { stderr?: string; stdout?: string; code?: number };
      throw new Error(`ctr ${args.join(' ')} failed (${failure.code}): ${failure.stderr ?? ''}${failure.stdout ?? ''}`);
    }
  }
}
