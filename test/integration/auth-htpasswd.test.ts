import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { errorCode } from '../support/oci-client.js';
import { CLI } from '../support/server.js';
import { ManualClock } from '../support/time.js';
import { AuthorizedClient, basic, getFrom, htpasswdEntry } from './auth-support.js';

describe('htpasswd authentication (registry:2 auth.htpasswd)', () => {
  let registry: TestRegistry;
  let htpasswdPath: string;
  const clock = new ManualClock();

  before(async () => {
    registry = await startInProcess({});
    await registry.close();
    htpasswdPath = join(registry.dataDir, 'htpasswd');
    await writeFile(htpasswdPath, `${htpasswdEntry('alice', 'alice-password', CLI)}\n`);
    registry = await startInProcess(
      { auth: { htpasswd: { realm: 'basic-realm', path: htpasswdPath }, throttle: { failures: 3, window: '1m' } } },
      registry.dataDir,
      { clock: clock.now },
    );
  });
  after(() => registry.destroy());

  it('when a request has no credentials, then 401 with the Basic challenge and the spec UNAUTHORIZED body', async () => {
    for (const path of ['/v2/', '/v2/_catalog', '/v2/team/app/tags/list', '/v2/team/app/manifests/latest']) {
      const response = await fetch(new URL(path, registry.url));
      assert.equal(response.status, 401, path);
      assert.equal(response.headers.get('www-authenticate'), 'Basic realm="basic-realm"');
      assert.equal(await errorCode(response), 'UNAUTHORIZED');
    }
    const head = await fetch(new URL('/v2/team/app/manifests/latest', registry.url), { method: 'HEAD' });
    assert.equal(head.status, 401);
    assert.equal(head.headers.get('www-authenticate'), 'Basic realm="basic-realm"');
  });

  it('when the htpasswd -Bbn user pushes and pulls, then everything works as without auth', async () => {
    const client = new AuthorizedClient(registry.url, basic('alice', 'alice-password'));
    assert.equal((await client.request('/v2/')).status, 200);
    const { digest } = await client.pushImage('team/app', 'v1');
    const manifest = await client.request('/v2/team/app/manifests/v1');
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get('docker-content-digest'), digest);
    const catalog = await client.request('/v2/_catalog');
    assert.deepEqual(await catalog.json(), { repositories: ['team/app'] });
  });

  it('when credentials are wrong, unknown, malformed or of another scheme, then 401 with the challenge', async () => {
    const headers = [
      basic('alice', 'wrong-password'),
      basic('mallory', 'alice-password'),
      'Basic',
      'Basic !!!not-base64',
      `Basic ${Buffer.from('no-colon').toString('base64')}`,
      'Bearer some.jwt.token',
      'Digest username="alice"',
      'alice:alice-password',
    ];
    for (const [index, authorization] of headers.entries()) {
      const response = await getFrom(registry.url, '/v2/team/app/tags/list', `127.0.0.${20 + index}`, authorization);
      assert.equal(response.status, 401, authorization);
      assert.equal(response.headers['www-authenticate'], 'Basic realm="basic-realm"', authorization);
      assert.equal((JSON.parse(response.body) as { errors: { code: string }[] }).errors[0]!.code, 'UNAUTHORIZED');
    }
  });

  it('when the htpasswd file changes, then the new entries apply once the re-check second has passed, without a restart', async () => {
    await writeFile(htpasswdPath, `${htpasswdEntry('bob', 'bob-password', CLI)}\n`);
    assert.equal((await getFrom(registry.url, '/v2/', '127.0.0.41', basic('bob', 'bob-password'))).status, 401, 'the file is re-checked at most once a second');
    clock.advance(1000);
    assert.equal((await getFrom(registry.url, '/v2/', '127.0.0.40', basic('bob', 'bob-password'))).status, 200);
    assert.equal((await getFrom(registry.url, '/v2/', '127.0.0.40', basic('alice', 'alice-password'))).status, 401, 'a removed user is refused even though it was cached');
    await writeFile(htpasswdPath, `${htpasswdEntry('alice', 'alice-password', CLI)}\n${htpasswdEntry('bob', 'bob-password', CLI)}\n`);
    clock.advance(1000);
    assert.equal((await getFrom(registry.url, '/v2/', '127.0.0.40', basic('alice', 'alice-password'))).status, 200);
  });

  it('when one client fails to log in repeatedly as one user, then it gets 429 TOOMANYREQUESTS with Retry-After for that user only; other clients and other users are not locked out', async () => {
    const attacker = '127.0.0.66';
    for (let i = 0; i < 2; i++) assert.equal((await getFrom(registry.url, '/v2/', attacker, basic('alice', `guess-${i}`))).status, 401);
    const locked = await getFrom(registry.url, '/v2/', attacker, basic('alice', 'guess-3'));
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers['retry-after']) > 0);
    assert.equal((JSON.parse(locked.body) as { errors: { code: string }[] }).errors[0]!.code, 'TOOMANYREQUESTS');
    assert.equal((await getFrom(registry.url, '/v2/', attacker, basic('alice', 'alice-password'))).status, 429, 'even good credentials for alice wait at this address');
    assert.equal((await getFrom(registry.url, '/v2/', attacker, basic('bob', 'bob-password'))).status, 200, 'another user behind the same address is not locked out');
    assert.equal((await getFrom(registry.url, '/v2/', '127.0.0.67', basic('alice', 'alice-password'))).status, 200, 'another client is not locked out');
  });

  it('when htpasswd mode is on, then there is no token service and no admin API', async () => {
    const client = new AuthorizedClient(registry.url, basic('alice', 'alice-password'));
    assert.equal((await client.request('/token?service=berth')).status, 404);
    assert.equal((await client.request('/api/v1/users')).status, 404);
  });
});

describe('htpasswd timing', () => {
  let registry: TestRegistry;

  before(async () => {
    registry = await startInProcess({});
    await registry.close();
    const path = join(registry.dataDir, 'htpasswd');
    await writeFile(path, `${htpasswdEntry('alice', 'alice-password', CLI)}\n`);
    registry = await startInProcess({ auth: { htpasswd: { realm: 'basic-realm', path }, throttle: { failures: 0 } } }, registry.dataDir);
  });
  after(() => registry.destroy());

  it('when a user name is unknown, then the 401 takes about as long as a wrong password for a user in an htpasswd -B file', async () => {
    const timed = async (authorization: string) => {
      const started = process.hrtime.bigint();
      assert.equal((await getFrom(registry.url, '/v2/', '127.0.0.1', authorization)).status, 401);
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    await timed(basic('mallory', 'warm-up'));
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 15; i++) {
      unknown.push(await timed(basic(`nobody-${i}`, `guess-${i}`)));
      wrong.push(await timed(basic('alice', `guess-${i}`)));
    }
    const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    // Cost 5 against cost 10 was a 32x gap (3.5 ms against 74 ms); equal costs stay well inside 3x.
    assert.ok(median(unknown) < median(wrong) * 3, `unknown user ${median(unknown).toFixed(1)} ms, wrong password ${median(wrong).toFixed(1)} ms`);
  });
});
