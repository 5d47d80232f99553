import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { CLI, startServer } from '../support/server.js';
import { basic } from './auth-support.js';

const run = promisify(execFile);

function berth(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REGISTRY_') && value !== undefined) env[name] = value;
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end(stdin);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}


describe('the berth access commands', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const scratch = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-auth-cli-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };

  it('when berth htpasswd writes an entry, then Apache htpasswd verifies it; -f adds and replaces users in place', async () => {
    const dir = await scratch();
    const printed = await berth(['htpasswd', 'alice', 'alice-password']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout.trim(), /^alice:\$2y\$10\$[./A-Za-z0-9]{53}$/);
    const file = join(dir, 'htpasswd');
    assert.equal((await berth(['htpasswd', '-f', file, 'alice'], 'first-password\n')).code, 0);
    assert.equal((await berth(['htpasswd', '-f', file, 'bob', 'bob-password'])).code, 0);
    assert.equal((await berth(['htpasswd', '-f', file, 'alice', 'second-password'])).code, 0);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    assert.deepEqual(lines.map((line) => line.split(':')[0]), ['bob', 'alice']);
    await run('htpasswd', ['-vb', file, 'alice', 'second-password']);
    await run('htpasswd', ['-vb', file, 'bob', 'bob-password']);
    await assert.rejects(run('htpasswd', ['-vb', file, 'alice', 'first-password']));
    assert.equal((await berth(['htpasswd', 'bad:name', 'pw'])).code, 2);
  });

  it('when users and roles are managed from the command line, then the database holds them and mistakes exit non-zero', async () => {
    const dir = await scratch();
    const config = join(dir, 'config.yml');
    await writeFile(config, stringify({ storage: { filesystem: { rootdirectory: join(dir, 'storage') } }, auth: { accounts: {} } }));
    assert.equal((await berth(['role', 'set', 'devs', 'dev/*=pull,push', '--description', 'developers', '--config', config])).code, 0);
    const added = await berth(['user', 'add', 'carol', '--role', 'devs', '--config', config]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout.trim(), /^[A-Za-z0-9_-]{32}$/, 'a generated password is printed once');
    assert.equal((await berth(['user', 'passwd', 'carol', '--password-stdin', '--config', config], 'carol-new-password\n')).code, 0);
    const list = await berth(['user', 'list', '--config', config]);
    assert.equal(list.stdout, 'carol\tdevs\n');
    assert.match((await berth(['role', 'list', '--config', config])).stdout, /devs\tdev\/\*=pull,push\tdevelopers/);
    for (const [args, code] of [
      [['role', 'set', 'x', 'no-equals-sign'], 1],
      [['role', 'set', 'x', 'a=fly'], 1],
      [['user', 'passwd', 'nobody', '--password-stdin'], 1],
      [['user', 'roles', 'carol', 'ghosts'], 1],
      [['role', 'rm', 'admin'], 1],
      [['user', 'explode'], 2],
    ] as const) {
      const result = await berth([...args, '--config', config], 'long-enough-password\n');
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^berth: /);
    }
    assert.equal((await berth(['user', 'rm', 'carol', '--config', config])).code, 0);
    assert.equal((await berth(['user', 'list', '--config', config])).stdout, '');
  });

  it('when a client certificate from http.tls.clientcas is presented, then its common name is the user', async () => {
    const dir = await scratch();
    const ssl = (args: string[]) => run('openssl', args, { cwd: dir });
    await ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', 'server.key', '-out', 'server.pem']);
    await ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=client CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
    await ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=robot', '-keyout', 'robot.key', '-out', 'robot.csr']);
    await ssl(['x509', '-req', '-in', 'robot.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'robot.pem']);
    const server = await startServer({
      config: {
        http: { tls: { certificate: join(dir, 'server.pem'), key: join(dir, 'server.key'), clientcas: [join(dir, 'ca.pem')] } },
        auth: { accounts: {}, clientcertificates: true },
      },
    });
    cleanups.push(async () => {
      await server.stop();
      await server.cleanup();
    });
    const config = join(server.dataDir, 'config.yml');
    assert.equal((await berth(['role', 'set', 'bots', 'ci/*=pull', '--config', config])).code, 0);
    assert.equal((await berth(['user', 'add', 'robot', '--role', 'bots', '--config', config])).code, 0);
    const get = (path: string, authorization?: string) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(path, server.url);
        const req = request({ host: url.hostname, port: url.port, path: url.pathname, rejectUnauthorized: false, headers: authorization ? { Authorization: authorization } : {} }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end();
      });
    const withCert = async (path: string) => {
      const [cert, key] = await Promise.all([readFile(join(dir, 'robot.pem')), readFile(join(dir, 'robot.key'))]);
      return new Promise<number>((resolve, reject) => {
        const url = new URL(path, server.url);
        const req = request({ host: url.hostname, port: url.port, path: url.pathname, rejectUnauthorized: false, cert, key }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end();
      });
    };
    assert.equal(await withCert('/v2/ci/app/tags/list'), 404, 'robot may pull ci/*; the repository is empty');
    assert.equal(await withCert('/v2/other/app/tags/list'), 403);
    await assert.rejects(get('/v2/'), 'without a client certificate the TLS handshake fails');
  });
});
