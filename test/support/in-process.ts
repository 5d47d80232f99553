import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { stringify } from 'yaml';
import { createApp, type App, type TimeSeams } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { OciClient } from './oci-client.js';

/**
 * Builds the real app in this process (config file → loadConfig → createApp) and listens on
 * an ephemeral loopback port: integration tests speak real HTTP to it without a child process.
 */
export interface TestRegistry {
  url: string;
  /** The debug listener's URL, when `http.debug.addr` is configured. */
  debugUrl?: string;
  /** Repositories with an `addr` of their own: name → URL. */
  repositories: Record<string, string>;
  app: App;
  dataDir: string;
  close(): Promise<void>;
  /** Closes and removes the data directory. */
  destroy(): Promise<void>;
}

/** `time` replaces the system clock and timers, so a test drives time instead of waiting for it. */
export async function startInProcess(config: Record<string, unknown> = {}, dataDir?: string, time: TimeSeams = {}): Promise<TestRegistry> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'berth-it-')));
  const document = {
    version: 0.1,
    ...config,
    http: { addr: '127.0.0.1:0', ...(config.http as object | undefined) },
    storage: { filesystem: { rootdirectory: join(dir, 'storage') }, delete: { enabled: true }, ...(config.storage as object | undefined) },
  };
  const path = join(dir, 'config.yml');
  await writeFile(path, stringify(document));
  const { config: loaded } = loadConfig(path, {});
  const app = await createApp(loaded, pino({ level: 'silent' }), time);
  const { url, debugUrl, repositories = {} } = await app.listen();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
  };
  return { url, debugUrl, repositories, app, dataDir: dir, close, destroy: async () => { await close(); await rm(dir, { recursive: true, force: true }); } };
}

/** A registry and a client for it, for a suite's `before` hook. */
export async function startWithClient(config: Record<string, unknown> = {}): Promise<{ registry: TestRegistry; client: OciClient }> {
  const registry = await startInProcess(config);
  return { registry, client: new OciClient(registry.url) };
}
