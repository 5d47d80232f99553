import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI, startServer } from '../support/server.js';

const run = promisify(execFile);

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

  it('when an unknown command is given, then usage is printed and the exit code is 2', async () => {
    await assert.rejects(run(process.execPath, [CLI, 'frobnicate'], { env: cleanEnv() }), (error: { code: number; stderr: string }) => error.code === 2 && /Usage:/.test(error.stderr));
    const help = await run(process.execPath, [CLI, 'help'], { env: cleanEnv() });
    assert.match(help.stdout, /berth serve/);
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
