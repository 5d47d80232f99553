import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startInProcess } from '../support/in-process.js';
import { CLI, startServer } from '../support/server.js';
import { basic, getFrom } from './auth-support.js';

/** The first start with accounts: a private data directory and an admin password that is easy to replace. */
describe('the first start with accounts', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const scratch = async (prefix: string) => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  const mode = async (path: string) => (await stat(path)).mode & 0o777;
  const gone = (path: string) => access(path).then(() => false, () => true);

  it('when the registry creates its data directory, then it and the database files (with -wal and -shm) are readable by the owner only', async () => {
    const registry = await startInProcess({ auth: { accounts: {} } });
    cleanups.push(() => registry.destroy());
    const data = join(registry.dataDir, 'storage');
    assert.equal(await mode(data), 0o700);
    for (const file of ['berth.sqlite', 'berth.sqlite-wal', 'berth.sqlite-shm', 'admin-password']) assert.equal(await mode(join(data, file)), 0o600, file);
  });

  it('when the operator runs the command the server printed, exactly as printed, then the admin password changes and the password file is removed', async () => {
    // A data directory whose path needs quoting in a shell.
    const dataDir = join(await scratch('berth-first-start-'), "data dir 'quoted'");
    await mkdir(dataDir);
    const server = await startServer({ dataDir, config: { auth: { accounts: {} } } });
    cleanups.push(() => server.stop());
    const printed = /Change it with: (.+)\n/.exec(server.output());
    assert.ok(printed, server.output());
    const command = printed[1]!;
    assert.match(command, /^berth user passwd admin --config /);
    const passwordFile = join(dataDir, 'storage', 'admin-password');
    const initial = (await readFile(passwordFile, 'utf8')).trim();
    assert.equal((await getFrom(server.url, '/v2/', '127.0.0.1', basic('admin', initial))).status, 200);

    // `berth` on PATH is the CLI under test; run from another directory, as an operator would.
    const bin = await scratch('berth-bin-');
    await writeFile(join(bin, 'berth'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    await chmod(join(bin, 'berth'), 0o755);
    const elsewhere = await scratch('berth-cwd-');
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REGISTRY_') && value !== undefined) env[name] = value;
    env.PATH = `${bin}:${process.env.PATH ?? ''}`;
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
      execFile('/bin/sh', ['-c', command], { cwd: elsewhere, env }, (error, out, err) => (error ? reject(new Error(`${command}: ${err}`)) : resolve({ stdout: out }))),
    );
    const changed = stdout.trim();
    assert.match(changed, /^[A-Za-z0-9_-]{32}$/, 'the generated password is printed');
    assert.equal((await getFrom(server.url, '/v2/', '127.0.0.1', basic('admin', changed))).status, 200);
    assert.equal((await getFrom(server.url, '/v2/', '127.0.0.2', basic('admin', initial))).status, 401);
    assert.ok(await gone(passwordFile), 'the stale password file is removed');
  });

  it('when the admin password is changed through the admin API, then the password file is removed; another user\'s change leaves it', async () => {
    const registry = await startInProcess({ auth: { accounts: {} } });
    cleanups.push(() => registry.destroy());
    const passwordFile = join(registry.dataDir, 'storage', 'admin-password');
    const admin = basic('admin', (await readFile(passwordFile, 'utf8')).trim());
    const put = (path: string, body: unknown, authorization = admin) =>
      fetch(new URL(path, registry.url), { method: 'PUT', headers: { Authorization: authorization, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await put('/api/v1/users/carol', { password: 'carol-password', roles: ['admin'] })).status, 201);
    assert.equal((await put('/api/v1/users/carol/password', { password: 'carol-password-2' })).status, 204);
    assert.equal(await gone(passwordFile), false);
    assert.equal((await put('/api/v1/users/admin/password', { password: 'admin-password-2' })).status, 204);
    assert.ok(await gone(passwordFile));
    assert.equal((await getFrom(registry.url, '/v2/', '127.0.0.1', basic('admin', 'admin-password-2'))).status, 200);
  });
});
