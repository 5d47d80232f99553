import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';

/**
 * The real registry:2 (CNCF Distribution 2.x, Debian's `docker-registry` package) on an
 * ephemeral loopback port with a filesystem root of the test's choosing, so tests can write
 * a tree exactly as registry:2 does. Stopped by its own PID.
 */
export interface RunningRegistry2 {
  /** host:port, as skopeo wants it. */
  host: string;
  pid: number;
  stop(): Promise<void>;
}

/** `extra` adds top-level sections (an `auth.htpasswd`, for instance). */
export async function startRegistry2(rootDirectory: string, configDir: string, extra: Record<string, unknown> = {}): Promise<RunningRegistry2> {
  const configPath = join(configDir, 'registry2-config.yml');
  await writeFile(
    configPath,
    stringify({
      version: 0.1,
      log: { level: 'info', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: rootDirectory }, delete: { enabled: true } },
      http: { addr: '127.0.0.1:0' },
      ...extra,
    }),
  );
  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let output = '';
  const host = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`registry:2 did not start within 20 s:\n${output}`)), 20_000);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      output += `${line}\n`;
      const listening = /listening on (127\.0\.0\.1:\d+)/.exec(line);
      if (listening) {
        clearTimeout(timer);
        resolve(listening[1]!);
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`registry:2 exited with ${code} before listening:\n${output}`));
    });
  }).catch(async (error: unknown) => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    throw error;
  });
  return {
    host,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM');
      await exited;
    },
  };
}
