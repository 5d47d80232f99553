import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { OciClient } from '../support/oci-client.js';
import { CLI, startServer } from '../support/server.js';

const run = promisify(execFile);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the compiled CLI and resolves with its exit code and output, whatever the code. */
async function berth(args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: cleanEnv() });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const SUBCOMMANDS = [['serve'], ['garbage-collect'], ['cleanup'], ['usage'], ['migrate'], ['htpasswd'], ['user', 'list'], ['role', 'list'], ['help']];

function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REGISTRY_') && value !== undefined) env[name] = value;
  return { ...env, ...extra };
}

describe('the berth command', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('when serve runs with no configuration, then it keeps its data under ./data and prints address and storage', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'berth-cwd-'));
    cleanups.push(() => rm(cwd, { recursive: true, force: true }));
    // Only the port is overridden: tests listen on loopback ephemeral ports, never :5000.
    const child = spawn(process.execPath, [CLI, 'serve'], { cwd, env: cleanEnv({ REGISTRY_HTTP_ADDR: '127.0.0.1:0' }), stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((done) => child.once('exit', done));
    cleanups.push(async () => {
      if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
      await exited;
    });
    const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no listening line')), 20_000);
      createInterface({ input: child.stdout! }).on('line', (text) => {
        const entry = JSON.parse(text) as Record<string, unknown>;
        if (String(entry.msg).startsWith('listening')) {
          clearTimeout(timer);
          resolve(entry);
        }
      });
    });
    assert.equal(line.storage, join(cwd, 'data'));
    assert.match(String(line.msg), /listening on http:\/\/127\.0\.0\.1:\d+; storage in /);
    const response = await fetch(`${String(line.url)}/v2/`);
    assert.equal(response.status, 200);
    assert.ok((await stat(join(cwd, 'data', 'berth.sqlite'))).isFile());
    process.kill(child.pid!, 'SIGTERM');
    assert.equal(await exited, 0);
  });

  it('when the configuration is invalid, then serve exits 1 naming the key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-badcfg-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'config.yml');
    await writeFile(path, 'storage:\n  delete:\n    enabled: sometimes\n');
    await assert.rejects(run(process.execPath, [CLI, 'serve', path], { env: cleanEnv() }), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr, /storage\.delete\.enabled/);
      return true;
    });
    await assert.rejects(run(process.execPath, [CLI, 'serve'], { env: cleanEnv({ REGISTRY_HTTP_ADDR: 'not-an-address', REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dir }) }), /http\.addr/);
  });

  it('when the configuration has unknown keys, then serve warns naming each and still starts', async () => {
    const server = await startServer({ config: { storage: { delete: { enabled: true }, unknownthing: { x: 1 } } }, env: { REGISTRY_LOG_NOPE: 'x' } });
    cleanups.push(async () => {
      await server.stop();
      await server.cleanup();
    });
    assert.match(server.output(), /unknown configuration key \\"storage\.unknownthing\\"/);
    assert.match(server.output(), /unknown configuration key \\"log\.nope\\"/);
    assert.equal((await fetch(`${server.url}/v2/`)).status, 200);
  });

  it('when serve runs without auth on 127.0.0.1, then it does not warn about open access', async () => {
    const server = await startServer({});
    cleanups.push(async () => {
      await server.stop();
      await server.cleanup();
    });
    assert.equal((await fetch(`${server.url}/v2/`)).status, 200);
    assert.doesNotMatch(server.output(), /no authentication configured/);
  });

  it('when an unknown command is given, then usage is printed and the exit code is 2', async () => {
    await assert.rejects(run(process.execPath, [CLI, 'frobnicate'], { env: cleanEnv() }), (error: { code: number; stderr: string }) => error.code === 2 && /Usage:/.test(error.stderr));
    const help = await run(process.execPath, [CLI, 'help'], { env: cleanEnv() });
    assert.match(help.stdout, /berth serve/);
  });

  it('when --version or -v is given, then the version in package.json is printed', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const outcome = await berth([flag]);
      assert.deepEqual(outcome, { code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('when any subcommand is given --help or -h, then it prints its own help, exits 0 and does nothing else', async () => {
    const runs = SUBCOMMANDS.flatMap((command) => ['--help', '-h'].map(async (flag) => ({ label: `${command.join(' ')} ${flag}`, command, outcome: await berth([...command, flag]) })));
    for (const { label, command, outcome } of await Promise.all(runs)) {
      assert.equal(outcome.code, 0, `${label}: ${outcome.stderr}`);
      assert.match(outcome.stdout, new RegExp(`berth ${command[0]}`), label);
      assert.equal(outcome.stderr, '', label);
    }
  });

  it('when any subcommand is given an unknown flag or an extra argument, then it exits 2 naming it, with usage', async () => {
    const flags = await Promise.all(SUBCOMMANDS.map(async (command) => ({ command, outcome: await berth([...command, '--dryrun']) })));
    for (const { command, outcome } of flags) {
      assert.equal(outcome.code, 2, command.join(' '));
      assert.match(outcome.stderr, /Unknown option '--dryrun'/, command.join(' '));
      assert.match(outcome.stderr, /usage:/, command.join(' '));
    }
    const extras = [['serve', 'a.yml', 'b.yml'], ['garbage-collect', 'a.yml', 'b.yml'], ['cleanup', 'a.yml', 'b.yml'], ['usage', 'a.yml', 'b.yml'], ['migrate', 'a.yml', 'b.yml'], ['htpasswd', 'alice', 'pw', 'extra'], ['user', 'list', 'extra'], ['role', 'rm', 'r', 'extra'], ['help', 'cleanup', 'extra']];
    for (const [index, outcome] of (await Promise.all(extras.map(berth))).entries()) {
      assert.equal(outcome.code, 2, extras[index]!.join(' '));
      assert.match(outcome.stderr, /unexpected argument/, extras[index]!.join(' '));
    }
    const misplaced = await berth(['user', 'rm', 'alice', '--role', 'admin']);
    assert.equal(misplaced.code, 2);
    assert.match(misplaced.stderr, /takes no --role/);
  });

  it('when cleanup is given --help or a mistyped --dryrun before a configuration, then no tag is removed', async () => {
    const server = await startServer({ config: { policies: [{ match: 'apps/*', retention: { keep: 1 } }] } });
    cleanups.push(async () => {
      await server.stop();
      await server.cleanup();
    });
    const client = new OciClient(server.url);
    for (const tag of ['v1', 'v2', 'v3']) await client.pushImage('apps/web', tag, [`layer-${tag}`]);
    const tags = async () => ((await (await client.request('/v2/apps/web/tags/list')).json()) as { tags: string[] }).tags.length;
    const config = join(server.dataDir, 'config.yml');

    assert.equal((await berth(['cleanup', '--help', config])).code, 0);
    assert.equal(await tags(), 3, '--help removed tags');
    const mistyped = await berth(['cleanup', '--dryrun', config]);
    assert.equal(mistyped.code, 2);
    assert.match(mistyped.stderr, /'--dryrun'/);
    assert.equal(await tags(), 3, '--dryrun removed tags');

    const real = await berth(['cleanup', config]);
    assert.equal(real.code, 0, real.stderr);
    assert.equal(await tags(), 1, 'the same configuration does remove tags without the mistake');
  });

  it('when http.tls has a certificate and key, then the registry serves HTTPS, and plain HTTP on that port gets 400 with a hint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-tls-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
    const server = await startServer({ config: { http: { tls: { certificate: cert, key } } } });
    cleanups.push(async () => {
      await server.stop();
      await server.cleanup();
    });
    assert.match(server.url, /^https:\/\//);
    const { readFile } = await import('node:fs/promises');
    const ca = await readFile(cert);
    const status = await new Promise<{ status: number; header: string | undefined }>((resolve, reject) => {
      request(`${server.url}/v2/`, { ca }, (res) => {
        res.resume();
        resolve({ status: res.statusCode!, header: res.headers['docker-distribution-api-version'] as string | undefined });
      }).on('error', reject).end();
    });
    assert.deepEqual(status, { status: 200, header: 'registry/2.0' });
    const plain = await fetch(`http://${server.host}/v2/`, { signal: AbortSignal.timeout(5000) });
    assert.equal(plain.status, 400);
    assert.equal(plain.headers.get('connection'), 'close');
    assert.match(await plain.text(), /HTTP request to an HTTPS server.*use https:\/\//);
    const again = await new Promise<number>((resolve, reject) => {
      request(`${server.url}/v2/_catalog`, { ca }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject).end();
    });
    assert.equal(again, 200, 'TLS still served after a plain HTTP request');
  });
});
