import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { OciLayout, sampleImage } from '../support/images.js';
import { CLI, startServer, type RunningServer } from '../support/server.js';
import { htpasswdEntry } from '../integration/auth-support.js';

/**
 * Real clients with credentials: podman login/push/pull/logout and skopeo --creds, against
 * htpasswd mode and token mode (Berth as issuer, users and roles made with the berth CLI).
 */
const run = promisify(execFile);
const AMD64 = { os: 'linux', architecture: 'amd64' };

interface Result {
  ok: boolean;
  output: string;
}

async function attempt(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  try {
    const { stdout, stderr } = await run(command, args, { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

async function must(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await attempt(command, args, env);
  assert.ok(result.ok, `${command} ${args.join(' ')}:\n${result.output}`);
  return result.output;
}

/** podman with a private store and its own auth file (login state), as root. */
class PodmanSession {
  private sequence = 0;
  private image: string | undefined;
  readonly authFile: string;

  constructor(private readonly dir: string) {
    this.authFile = join(dir, 'auth.json');
  }

  run(args: string[], storeDir = join(this.dir, 's')): Promise<Result> {
    const store = ['--root', join(storeDir, 'storage'), '--runroot', join(storeDir, 'run'), '--tmpdir', join(storeDir, 'tmp'), '--storage-driver', 'vfs', '--events-backend', 'none'];
    return attempt('podman', [...store, ...args], { ...process.env, REGISTRY_AUTH_FILE: this.authFile, TMPDIR: this.dir });
  }

  login(host: string, user: string, password: string): Promise<Result> {
    return this.run(['login', '--tls-verify=false', '--username', user, '--password', password, host]);
  }

  logout(host: string): Promise<Result> {
    return this.run(['logout', host]);
  }

  /** Imports the layout's image into the store (as if built), then pushes it. */
  async push(layout: OciLayout, tag: string, dest: string): Promise<Result> {
    // podman names an oci: image after its path, which must be a lower-case repository name.
    const link = join(tmpdir(), `berth-oci-${randomUUID()}`);
    await symlink(layout.dir, link);
    try {
      const pulled = await this.run(['pull', '--quiet', `oci:${link}:${tag}`]);
      assert.ok(pulled.ok, pulled.output);
      this.image = pulled.output.trim().split('\n').at(-1)!;
    } finally {
      await unlink(link);
    }
    return this.pushImage(dest);
  }

  /** Pushes the image imported last. */
  pushImage(dest: string): Promise<Result> {
    return this.run(['push', '--tls-verify=false', this.image!, `docker://${dest}`]);
  }

  /** Pulls into a fresh store (nothing reused). */
  pull(ref: string): Promise<Result> {
    return this.run(['pull', '--quiet', '--tls-verify=false', ref], join(this.dir, `p${++this.sequence}`));
  }
}

async function layoutIn(dir: string): Promise<OciLayout> {
  const layout = await OciLayout.create(join(dir, 'layout'));
  await layout.addImage('v1', sampleImage(AMD64, 'auth'));
  return layout;
}

async function workDir(cleanups: (() => Promise<void>)[]): Promise<string> {
  // short: podman's runroot must stay under 50 characters
  const dir = await mkdtemp(join(tmpdir(), 'ba-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('clients against htpasswd authentication', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let server: RunningServer;
  let layout: OciLayout;

  before(async () => {
    const dir = await workDir(cleanups);
    const htpasswd = join(dir, 'htpasswd');
    await writeFile(htpasswd, `${htpasswdEntry('alice', 'alice-password', CLI)}\n`);
    server = await startServer({ config: { auth: { htpasswd: { realm: 'basic-realm', path: htpasswd } } } });
    cleanups.push(async () => {
      await server.stop();
      await server.cleanup();
    });
    layout = await layoutIn(dir);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('when skopeo copies with --creds, then push and pull work; wrong or missing credentials are refused', async () => {
    const dest = `docker://${server.host}/team/app:v1`;
    const refused = await attempt('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', 'alice:wrong', layout.ref('v1'), dest]);
    assert.ok(!refused.ok);
    assert.match(refused.output, /unauthorized|authentication required|invalid username/i);
    const anonymous = await attempt('skopeo', ['inspect', '--raw', '--tls-verify=false', '--no-creds', dest]);
    assert.ok(!anonymous.ok);
    await must('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-password', layout.ref('v1'), dest]);
    const raw = await must('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', 'alice:alice-password', dest]);
    assert.equal(JSON.parse(raw).schemaVersion, 2);
  });

  it('when podman logs in, then push and pull work; after logout they are refused; a wrong password fails login', async () => {
    const podman = new PodmanSession(await workDir(cleanups));
    const failed = await podman.login(server.host, 'alice', 'not-her-password');
    assert.ok(!failed.ok);
    assert.match(failed.output, /invalid username\/password|unauthorized/i);
    await podman.login(server.host, 'alice', 'alice-password').then((result) => assert.ok(result.ok, result.output));
    const pushed = await podman.push(layout, 'v1', `${server.host}/podman/app:v1`);
    assert.ok(pushed.ok, pushed.output);
    const pulled = await podman.pull(`${server.host}/podman/app:v1`);
    assert.ok(pulled.ok, pulled.output);
    await podman.logout(server.host).then((result) => assert.ok(result.ok, result.output));
    const denied = await podman.pull(`${server.host}/podman/app:v1`);
    assert.ok(!denied.ok);
    assert.match(denied.output, /unauthorized|authentication required/i);
  });
});

describe('clients against token authentication with users and roles', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let server: RunningServer;
  let layout: OciLayout;
  const config = () => join(server.dataDir, 'config.yml');

  async function berth(args: string[], stdin?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stdin.end(stdin ?? '');
      child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`berth ${args.join(' ')} exited ${code}: ${output}`))));
    });
  }

  before(async () => {
    server = await startServer({ config: { auth: { token: { service: 'berth-clients' } } } });
    cleanups.push(async () => {
      await server.stop();
      await server.cleanup();
    });
    assert.match(server.output(), /Berth created the user "admin" with password/);
    assert.ok(!/"msg":"[^"]*password:/.test(server.output()), 'the password is printed, not logged');
    await berth(['role', 'set', 'team-a', 'team-a/*=push', '--config', config()]);
    await berth(['role', 'set', 'readers', '*=pull', '--config', config()]);
    await berth(['user', 'add', 'alice', '--password-stdin', '--role', 'team-a', '--config', config()], 'alice-password\n');
    await berth(['user', 'add', 'reader', '--password-stdin', '--role', 'readers', '--config', config()], 'reader-password\n');
    assert.match(await berth(['user', 'list', '--config', config()]), /alice\tteam-a[\s\S]*reader\treaders/);
    layout = await layoutIn(await workDir(cleanups));
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('when podman logs in through the token service, then the user pushes where its role allows and is denied elsewhere', async () => {
    const podman = new PodmanSession(await workDir(cleanups));
    await podman.login(server.host, 'alice', 'alice-password').then((result) => assert.ok(result.ok, result.output));
    const pushed = await podman.push(layout, 'v1', `${server.host}/team-a/app:v1`);
    assert.ok(pushed.ok, pushed.output);
    const elsewhere = await podman.pushImage(`${server.host}/team-b/app:v1`);
    assert.ok(!elsewhere.ok);
    assert.match(elsewhere.output, /denied|forbidden|unauthorized/i);
    const pulled = await podman.pull(`${server.host}/team-a/app:v1`);
    assert.ok(pulled.ok, pulled.output);
    await podman.logout(server.host);
    assert.ok(!(await podman.pull(`${server.host}/team-a/app:v1`)).ok, 'logged out: no anonymous access');
    assert.ok(!(await podman.login(server.host, 'alice', 'wrong-password')).ok);
  });

  it('when a pull-only user pushes, then the client sees the denial; its pulls work', async () => {
    const podman = new PodmanSession(await workDir(cleanups));
    await podman.login(server.host, 'reader', 'reader-password').then((result) => assert.ok(result.ok, result.output));
    const pushed = await podman.push(layout, 'v1', `${server.host}/team-a/reader-push:v1`);
    assert.ok(!pushed.ok, 'a pull-only user cannot push');
    assert.match(pushed.output, /denied/i);
    const skopeoPush = await attempt('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', 'reader:reader-password', layout.ref('v1'), `docker://${server.host}/team-a/skopeo:v1`]);
    assert.ok(!skopeoPush.ok);
    assert.match(skopeoPush.output, /denied/i);
    await must('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', 'reader:reader-password', `docker://${server.host}/team-a/app:v1`]);
  });

  it('when anonymous pull is granted for a pattern, then skopeo pulls there without credentials and nowhere else', async () => {
    await must('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-password', layout.ref('v1'), `docker://${server.host}/team-a/public/app:v1`]);
    const before = await attempt('skopeo', ['inspect', '--raw', '--tls-verify=false', '--no-creds', `docker://${server.host}/team-a/public/app:v1`]);
    assert.ok(!before.ok, 'anonymous access is off by default');
    await berth(['role', 'set', 'anonymous', 'team-a/public/*=pull', '--config', config()]);
    await must('skopeo', ['inspect', '--raw', '--tls-verify=false', '--no-creds', `docker://${server.host}/team-a/public/app:v1`]);
    const work = await workDir(cleanups);
    await must('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--src-no-creds', `docker://${server.host}/team-a/public/app:v1`, `dir:${join(work, 'pulled')}`]);
    assert.ok((await readFile(join(work, 'pulled', 'manifest.json'))).length > 0);
    const privateRepo = await attempt('skopeo', ['inspect', '--raw', '--tls-verify=false', '--no-creds', `docker://${server.host}/team-a/app:v1`]);
    assert.ok(!privateRepo.ok);
    const anonymousPush = await attempt('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-no-creds', layout.ref('v1'), `docker://${server.host}/team-a/public/app:v2`]);
    assert.ok(!anonymousPush.ok, 'anonymous users never push');
  });
});
