import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { CLI } from '../support/server.js';

/**
 * What can be checked of the container image without building it (no base image downloads
 * here): the entrypoint and `registry` alias script, run on the host with the arguments the
 * Dockerfile and registry:2 users give it, the configuration the image ships, and the
 * Dockerfile's paths. Not verified here: the image build itself, the non-root user's
 * permissions on a mounted volume, and the Node base image.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'packaging/registry');

interface Started {
  child: ChildProcess;
  url: string;
  log: Record<string, unknown>;
  stop(): Promise<number | null>;
}

function run(args: string[], env: Record<string, string>): ChildProcess {
  const clean: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REGISTRY_') && value !== undefined) clean[name] = value;
  return spawn(SCRIPT, args, { env: { ...clean, BERTH_BIN: CLI, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

function serving(child: ChildProcess): Promise<Started> {
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return new Promise((resolveStarted, reject) => {
    const timer = setTimeout(() => reject(new Error(`not listening within 20 s:\n${output}`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output += `${line}\n`;
      try {
        const entry = JSON.parse(line) as Record<string, unknown> & { url?: string; msg?: string };
        if (entry.url && entry.msg?.startsWith('listening')) {
          clearTimeout(timer);
          resolveStarted({
            child, url: entry.url, log: entry,
            stop: async () => {
              if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM');
              return exited;
            },
          });
        }
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${output}`));
    });
  });
}

describe('the container entrypoint and registry alias, run on the host', () => {
  let dir: string;
  let config: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-entrypoint-'));
    config = join(dir, 'config.yml');
    await writeFile(config, stringify({
      version: 0.1,
      storage: { filesystem: { rootdirectory: join(dir, 'registry') } },
      http: { addr: '127.0.0.1:0', headers: { 'X-Content-Type-Options': ['nosniff'] } },
      log: { accesslog: { disabled: true } },
    }));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('when given only a config path (the image CMD), then it serves with that configuration', async () => {
    const server = await serving(run([config], {}));
    try {
      const response = await fetch(`${server.url}/v2/`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(server.log.storage, join(dir, 'registry'));
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('when run with no arguments, then it serves the default configuration path', async () => {
    const server = await serving(run([], { BERTH_DEFAULT_CONFIG: config }));
    try {
      assert.equal(server.log.storage, join(dir, 'registry'));
    } finally {
      await server.stop();
    }
  });

  it('when called as `registry garbage-collect <config>` or without the path, then it collects with that configuration', async () => {
    for (const args of [['garbage-collect', config], ['garbage-collect', '--dry-run']]) {
      await rm(join(dir, 'registry'), { recursive: true, force: true });
      const child = run(args, { BERTH_DEFAULT_CONFIG: config });
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((done) => child.once('exit', (exitCode) => done(exitCode)));
      assert.equal(code, 0, `${args.join(' ')}: ${output}`);
      assert.ok(existsSync(join(dir, 'registry', 'berth.sqlite')), 'the configured storage was used');
    }
  });

  it('when the shipped config.yml is loaded, then it is registry:2s default: port 5000, /var/lib/registry, no warning but the open-access one', () => {
    const { config: loaded, warnings } = loadConfig(join(ROOT, 'packaging/config.yml'), {});
    assert.equal(loaded.http.port, 5000);
    assert.equal(loaded.storage.driver.rootDirectory, '/var/lib/registry');
    // Only the open-access warning registry:2's default deserves (no auth, every interface).
    assert.deepEqual(warnings.filter((warning) => !warning.startsWith('no authentication configured')), []);
  });

  it('when the Dockerfile is read, then its paths exist and it mirrors registry:2s image (5000, /var/lib/registry, the default config, a non-root user, the alias)', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const lines = dockerfile.split('\n').filter((line) => !line.startsWith('#'));
    for (const line of lines.filter((candidate) => /^COPY (?!--from)/.test(candidate))) {
      const sources = line.split(/\s+/).slice(1, -1);
      for (const source of sources) assert.ok(existsSync(join(ROOT, source)), `${line}: ${source} is missing`);
    }
    assert.ok(lines.includes('EXPOSE 5000'));
    assert.ok(lines.includes('VOLUME ["/var/lib/registry"]'));
    assert.ok(lines.includes('COPY packaging/config.yml /etc/docker/registry/config.yml'));
    assert.ok(lines.includes('COPY packaging/registry /usr/local/bin/registry'));
    assert.ok(lines.includes('ENTRYPOINT ["/usr/local/bin/registry"]'));
    assert.ok(lines.includes('CMD ["/etc/docker/registry/config.yml"]'));
    const user = lines.filter((line) => line.startsWith('USER ')).at(-1);
    assert.ok(user && !/^USER (root|0)\b/.test(user), 'the final stage runs as a non-root user');
    const compose = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
    assert.match(compose, /"5000:5000"/);
    assert.match(compose, /:\/var\/lib\/registry/);
  });
});
