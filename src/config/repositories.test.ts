import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig } from './load.js';

function load(document: Record<string, unknown>, env: Record<string, string> = {}): ReturnType<typeof loadConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-config-'));
  const path = join(dir, 'config.yml');
  writeFileSync(path, stringify({ http: { addr: '127.0.0.1:5000' }, ...document }));
  return loadConfig(path, env);
}

function problems(document: Record<string, unknown>): string {
  try {
    load(document);
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail('the configuration was accepted');
}

const issueExample = {
  default: 'all',
  items: [
    { name: 'hub', kind: 'proxy', upstream: { url: 'https://registry-1.docker.io', username: 'me', password: 'secret' }, revalidate: '5m', staleiferror: '24h', maxsize: '50GiB' },
    { name: 'internal', kind: 'hosted' },
    { name: 'all', kind: 'group', members: ['internal', 'hub'], writablemember: 'internal' },
  ],
};

describe('repositories configuration', () => {
  it('when nothing is configured, then there are no repositories and no mirror (one hosted space, as before)', () => {
    assert.deepEqual(loadConfig(undefined, {}).config.repositories, { items: [] });
  });

  it('when the issue\'s example is loaded, then every key lands in the typed config', () => {
    const { config, warnings } = load({ repositories: issueExample });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.repositories, {
      default: 'all',
      items: [
        { kind: 'proxy', name: 'hub', upstream: { url: 'https://registry-1.docker.io', timeoutMs: 30_000, username: 'me', password: 'secret' }, revalidateMs: 300_000, staleIfErrorMs: 86_400_000, maxSizeBytes: 50 * 1024 ** 3 },
        { kind: 'hosted', name: 'internal' },
        { kind: 'group', name: 'all', members: ['internal', 'hub'], writableMember: 'internal' },
      ],
    });
  });

  it('when a proxy reads its password from passwordfile, then the file\'s first line is the password', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-password-'));
    writeFileSync(join(dir, 'password'), 'from-file\n');
    const { config } = load({ repositories: { items: [{ name: 'hub', kind: 'proxy', upstream: { url: 'http://127.0.0.1:5001', username: 'u', passwordfile: join(dir, 'password') } }] } });
    const hub = config.repositories.items[0]!;
    assert.ok(hub.kind === 'proxy');
    assert.equal(hub.upstream.password, 'from-file');
  });

  it('when a group is wrong, then startup stops naming the key and the reason', () => {
    const base = { name: 'internal', kind: 'hosted' };
    assert.match(problems({ repositories: { items: [base, { name: 'all', kind: 'group', members: ['internal', 'nope'] }] } }), /repositories\.items\.1\.members\.1: unknown member "nope"/);
    assert.match(problems({ repositories: { items: [base, { name: 'hub', kind: 'proxy', upstream: { url: 'http://127.0.0.1:1' } }, { name: 'all', kind: 'group', members: ['internal', 'hub'], writablemember: 'hub' }] } }), /writablemember "hub" must be a hosted repository/);
    assert.match(problems({ repositories: { items: [base, { name: 'all', kind: 'group', members: ['internal'], writablemember: 'other' }] } }), /writablemember "other" is not one of the members/);
    assert.match(problems({ repositories: { items: [{ name: 'a', kind: 'group', members: ['b'] }, { name: 'b', kind: 'group', members: ['a'] }] } }), /groups form a cycle: a → b → a/);
    assert.match(problems({ repositories: { items: [base, base] } }), /repository "internal" is declared twice/);
    assert.match(problems({ repositories: { default: 'missing', items: [base] } }), /repositories\.default: unknown repository "missing"/);
  });

  it('when a key does not fit the kind, then startup stops saying which kind it belongs to', () => {
    assert.match(problems({ repositories: { items: [{ name: 'internal', kind: 'hosted', upstream: { url: 'http://127.0.0.1:1' } }] } }), /upstream applies only to proxy repositories/);
    assert.match(problems({ repositories: { items: [{ name: 'hub', kind: 'proxy' }] } }), /proxy "hub" needs upstream\.url/);
    assert.match(problems({ repositories: { items: [{ name: 'hub', kind: 'proxy', upstream: { url: 'https://user:pw@example.com' } }] } }), /upstream registry's root URL/);
    assert.match(problems({ repositories: { items: [{ name: 'Hub/x', kind: 'hosted' }] } }), /one lowercase path component/);
    assert.match(problems({ repositories: { items: [{ name: 'hub', kind: 'proxy', upstream: { url: 'http://127.0.0.1:1' }, revalidate: 'soon' }] } }), /revalidate: expected a duration/);
  });

  it('when a repository has its own addr, then it is parsed like http.addr; a bad one or a port used twice stops startup', () => {
    const { config } = load({ repositories: { items: [{ name: 'internal', kind: 'hosted', addr: ':8000' }] } });
    assert.deepEqual(config.repositories.items[0]!.listen, { host: '0.0.0.0', port: 8000 });
    assert.match(problems({ repositories: { items: [{ name: 'internal', kind: 'hosted', addr: 'nope' }] } }), /repositories\.items\.0\.addr: expected \[host\]:port/);
    assert.match(problems({ repositories: { items: [{ name: 'a', kind: 'hosted', addr: ':8000' }, { name: 'b', kind: 'hosted', addr: '127.0.0.1:8000' }] } }), /two repositories listen on the same port/);
  });

  it('when registry:2\'s proxy section is set, then bare names mirror that upstream with its credentials, and its ttl expires cached images (168h when unset, as registry:2; 0 keeps them)', () => {
    const { config, warnings } = load({ proxy: { remoteurl: 'https://registry-1.docker.io', username: 'me', password: 'pw', ttl: '72h' } }, { REGISTRY_PROXY_PASSWORD: 'from-env' });
    assert.deepEqual(config.repositories.mirror?.upstream, { url: 'https://registry-1.docker.io', timeoutMs: 30_000, username: 'me', password: 'from-env' });
    assert.equal(config.repositories.mirror?.expireAfterMs, 72 * 3_600_000);
    assert.ok(!warnings.some((warning) => warning.includes('proxy')));
    assert.equal(load({ proxy: { remoteurl: 'https://registry-1.docker.io' } }).config.repositories.mirror?.expireAfterMs, 168 * 3_600_000);
    assert.equal(load({ proxy: { remoteurl: 'https://registry-1.docker.io', ttl: 0 } }).config.repositories.mirror?.expireAfterMs, undefined);
    assert.match(problems({ proxy: { remoteurl: 'https://registry-1.docker.io', ttl: 'soon' } }), /proxy\.ttl: expected a duration/);
  });

  it('when a proxy repository sets ttl, then its cached images expire after it; without one they are kept; ttl on another kind is refused', () => {
    const proxy = (extra: object) => load({ repositories: { items: [{ name: 'hub', kind: 'proxy', upstream: { url: 'https://registry-1.docker.io' }, ...extra }] } }).config.repositories.items[0] as { expireAfterMs?: number };
    assert.equal(proxy({ ttl: '720h' }).expireAfterMs, 720 * 3_600_000);
    assert.equal(proxy({}).expireAfterMs, undefined);
    assert.match(problems({ repositories: { items: [{ name: 'internal', kind: 'hosted', ttl: '1h' }] } }), /ttl applies only to proxy repositories/);
  });
});
