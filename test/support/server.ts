import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { stringify } from 'yaml';

const START_DEADLINE_MS = 60_000;

/**
 * Runs the real `berth serve` (the compiled CLI) as a child process on an ephemeral loopback
 * port, with its own data directory. Stopped by its own PID; `kill()` is the crash button.
 */
export const CLI = resolve(import.meta.dirname, '../../dist/cli/main.cjs');

/** The node flags the CLI's shebang asks for, so a server started here runs as `berth serve` does. */
export function cliNodeFlags(): string[] {
  const shebang = readFileSync(CLI, 'utf8').split('\n', 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S node(.*)$/.exec(shebang);
  if (!match) throw new Error(`unexpected shebang in ${CLI}: ${shebang}`);
  return match[1]!.split(' ').filter(Boolean);
}

export interface ServerOptions {
  /** config.yml content; http.addr defaults to 127.0.0.1:0, storage to the data dir. */
  config?: Record<string, unknown>;
  /** Extra environment (REGISTRY_* overrides). Inherited REGISTRY_* variables are removed. */
  env?: Record<string, string>;
  /** Reuse a data directory (restart scenarios). */
  dataDir?: string;
  /** Extra node flags, e.g. --max-old-space-size. */
  nodeArgs?: string[];
}

export interface RunningServer {
  url: string;
  /** host:port, as clients such as skopeo want it. */
  host: string;
  port: number;
  pid: number;
  dataDir: string;
  process: ChildProcess;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL, then wait for exit: a crash. */
  kill(): Promise<void>;
  /** Removes the data directory (after stop). */
  cleanup(): Promise<void>;
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'berth-test-')));
  const config = {
    version: 0.1,
    log: { level: 'info', accesslog: { disabled: true } },
    ...options.config,
    http: { addr: '127.0.0.1:0', ...(options.config?.http as object | undefined) },
    storage: {
      // The data directory's storage, unless the test names another driver (storage.s3).
      ...(!(options.config?.storage as { s3?: unknown } | undefined)?.s3 && { filesystem: { rootdirectory: join(dataDir, 'storage') } }),
      delete: { enabled: true },
      ...(options.config?.storage as object | undefined),
    },
  };
  const configPath = join(dataDir, 'config.yml');
  await writeFile(configPath, stringify(config));

  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REGISTRY_') && value !== undefined) env[name] = value;
  Object.assign(env, options.env);

  const child = spawn(process.execPath, [...cliNodeFlags(), ...(options.nodeArgs ?? []), CLI, 'serve', configPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));

  const address = await new Promise<{ url: string }>((resolveAddress, reject) => {
    // A deadline, not a wait: generous because a 2-core machine running test files in parallel can take
    // tens of seconds to start a process that loads the S3 SDK and migrates a database.
    const timer = setTimeout(() => reject(new Error(`server did not start within ${START_DEADLINE_MS / 1000} s:\n${output}`)), START_DEADLINE_MS);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      output += `${line}\n`;
      try {
        const entry = JSON.parse(line) as { url?: string; msg?: string };
        if (entry.url && entry.msg?.startsWith('listening')) {
          clearTimeout(timer);
          resolveAddress({ url: entry.url });
        }
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  }).catch(async (error: unknown) => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  });

  const url = new URL(address.url);
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, name);
    await exited;
  };
  return {
    url: address.url,
    host: url.host,
    port: Number(url.port),
    pid: child.pid!,
    dataDir,
    process: child,
    output: () => output,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
}

/** The compiled CLI with only the given REGISTRY_* variables; resolves whatever the exit code. */
export async function runCli(args: string[], registryEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('REGISTRY_')));
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...cliNodeFlags(), CLI, ...args], { env: { ...env, ...registryEnv } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}
