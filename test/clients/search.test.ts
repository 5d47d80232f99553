import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { startServer, type RunningServer } from '../support/server.js';
import { AuthorizedClient, basic } from '../integration/auth-support.js';

/**
 * `podman search` and `docker search` against Berth with access control: anonymous callers find
 * what anonymous may pull, a logged-in docker finds what its user may pull. A description in the
 * output proves the client used /v1/search (podman's fallback, the catalog, has none).
 */
const run = promisify(execFile);
const DESCRIPTION = 'org.opencontainers.image.description';

async function must(command: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: string): Promise<string> {
  try {
    const child = run(command, args, { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
    if (input !== undefined) child.child.stdin!.end(input);
    const { stdout } = await child;
    return stdout;
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${failure.stdout ?? ''}${failure.stderr ?? ''}`);
  }
}

describe('docker search and podman search against Berth', () => {
  let server: RunningServer;
  let adminPassword: string;
  before(async () => {
    server = await startServer({ config: { auth: { accounts: {} } } });
    adminPassword = (await readFile(join(server.dataDir, 'storage', 'admin-password'), 'utf8')).trim();
    const admin = new AuthorizedClient(server.url, basic('admin', adminPassword));
    await admin.pushImage('public/finder', 'v1', ['p'], { annotations: { [DESCRIPTION]: 'found by anyone' } });
    await admin.pushImage('private/finder', 'v1', ['s'], { annotations: { [DESCRIPTION]: 'found by users' } });
    const response = await admin.request('/api/v1/roles/anonymous', {
      method: 'PUT', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ permissions: [{ pattern: 'public/*', actions: ['pull'] }] }),
    });
    assert.equal(response.status, 200, await response.text());
  });
  after(async () => {
    await server.stop();
    await server.cleanup();
  });

  it('when podman searches host/term, then it prints the anonymously visible matches with their descriptions', async () => {
    const work = await mkdtemp(join(tmpdir(), 'berth-podman-search-'));
    try {
      const output = await must('podman', ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs', '--events-backend', 'none',
        'search', '--tls-verify=false', '--no-trunc', '--format', 'json', `${server.host}/finder`], { ...process.env, TMPDIR: work });
      const results = JSON.parse(output) as { Name: string; Description: string }[];
      assert.deepEqual(results.map((result) => [result.Name, result.Description]), [[`${server.host}/public/finder`, 'found by anyone']]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  describe('with the Docker daemon', () => {
    let dockerd: Dockerd;
    before(async () => {
      dockerd = await startDockerd();
    });
    after(() => dockerd?.stop());

    const searchNames = async () => (await must('docker', ['search', '--no-trunc', '--format', '{{.Name}}\t{{.Description}}', `${server.host}/finder`], dockerd.env)).trim().split('\n').filter(Boolean);

    it('when docker searches without login, then it prints what anonymous may pull', async () => {
      assert.deepEqual(await searchNames(), ['public/finder\tfound by anyone']);
    });

    it('when docker searches after docker login, then it prints what the user may pull', async () => {
      await must('docker', ['login', '--username', 'admin', '--password-stdin', server.host], dockerd.env, adminPassword);
      assert.deepEqual(await searchNames(), ['private/finder\tfound by users', 'public/finder\tfound by anyone']);
      await must('docker', ['logout', server.host], dockerd.env);
      assert.deepEqual(await searchNames(), ['public/finder\tfound by anyone']);
    });
  });
});
