import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDuration } from './duration.js';
import { ConfigError, loadConfig, parseAddress } from './load.js';

function configFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'berth-config-')), 'config.yml');
  writeFileSync(path, text);
  return path;
}

describe('configuration', () => {
  it('when nothing is configured, then Berth serves :5000 with ./data and registry:2 defaults', () => {
    const { config, warnings } = loadConfig(undefined, {});
    assert.equal(config.http.host, '0.0.0.0');
    assert.equal(config.http.port, 5000);
    assert.equal(config.storage.driver.rootDirectory, join(process.cwd(), 'data'));
    assert.equal(config.database.path, join(process.cwd(), 'data', 'berth.sqlite'));
    assert.equal(config.storage.deleteEnabled, false);
    assert.deepEqual(config.storage.uploadPurging, { enabled: true, ageMs: 168 * 3600_000, intervalMs: 24 * 3600_000, dryRun: false });
    assert.equal(config.http.tls, undefined);
    assert.deepEqual(warnings, ['no authentication configured and listening on 0.0.0.0:5000: anyone who can reach this address can push']);
  });

  it('when there is no auth section, then a non-loopback address warns once and a loopback one does not', () => {
    const open = (env: Record<string, string>) => loadConfig(undefined, env).warnings.filter((warning) => warning.startsWith('no authentication configured'));
    assert.deepEqual(open({ REGISTRY_HTTP_ADDR: '[::]:5000', REGISTRY_STORAGE_DELETE_ENABLED: 'true' }), ['no authentication configured and listening on [::]:5000: anyone who can reach this address can push and delete']);
    assert.deepEqual(open({ REGISTRY_HTTP_ADDR: '127.0.0.1:5000' }), []);
    assert.deepEqual(open({ REGISTRY_HTTP_ADDR: ':5000', REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_PATH: '/etc/htpasswd' }), []);
  });

  it('when a registry:2 config.yml is read, then its keys land in the typed config', () => {
    const path = configFile(`
version: 0.1
log:
  level: debug
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: true
      age: 72h
      interval: 1h30m
      dryrun: true
http:
  addr: 127.0.0.1:5001
  headers:
    X-Content-Type-Options: [nosniff]
  tls:
    certificate: /certs/domain.crt
    key: /certs/domain.key
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`);
    const { config, warnings } = loadConfig(path, {});
    assert.deepEqual(warnings, []);
    assert.equal(config.log.level, 'debug');
    assert.equal(config.storage.driver.rootDirectory, '/var/lib/registry');
    assert.equal(config.storage.deleteEnabled, true);
    assert.equal(config.storage.uploadPurging.ageMs, 72 * 3600_000);
    assert.equal(config.storage.uploadPurging.intervalMs, 90 * 60_000);
    assert.equal(config.storage.uploadPurging.dryRun, true);
    assert.deepEqual({ host: config.http.host, port: config.http.port }, { host: '127.0.0.1', port: 5001 });
    assert.deepEqual(config.http.headers, { 'x-content-type-options': ['nosniff'] });
    assert.equal(config.http.tls?.certificate, '/certs/domain.crt');
    assert.deepEqual(config.health.storageDriver, { enabled: true, intervalMs: 10_000, threshold: 3 });
  });

  it('when REGISTRY_* variables are set, then they override the file, values read as YAML', () => {
    const path = configFile('storage:\n  delete:\n    enabled: false\nhttp:\n  addr: :5000\n');
    const { config } = loadConfig(path, {
      REGISTRY_HTTP_ADDR: '127.0.0.1:6000',
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/srv/registry',
      REGISTRY_STORAGE: 'filesystem',
      REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD: '5',
      NOT_REGISTRY: 'ignored',
    });
    assert.equal(config.http.port, 6000);
    assert.equal(config.storage.deleteEnabled, true);
    assert.equal(config.storage.driver.rootDirectory, '/srv/registry');
    assert.equal(config.health.storageDriver.threshold, 5);
  });

  it('when database.enabled is set (GitLab registry keys, file or REGISTRY_DATABASE_*), then metadata goes to PostgreSQL with its defaults filled in', () => {
    const path = configFile('storage:\n  filesystem:\n    rootdirectory: /srv/registry\ndatabase:\n  enabled: true\n  host: db.internal\n  pool:\n    maxopen: 4\n');
    assert.deepEqual(loadConfig(path, {}).config.database, {
      kind: 'postgres',
      path: '/srv/registry/berth.sqlite',
      postgres: { host: 'db.internal', port: 5432, user: 'postgres', dbname: 'registry', sslmode: 'prefer', connectTimeoutMs: 0, pool: { maxOpen: 4, maxLifetimeMs: 0, maxIdleTimeMs: 10_000 } },
    });
    const { config } = loadConfig(path, {
      REGISTRY_DATABASE_PORT: '6432',
      REGISTRY_DATABASE_PASSWORD: '1234',
      REGISTRY_DATABASE_SSLMODE: 'verify-full',
      REGISTRY_DATABASE_POOL_MAXIDLE: '0',
      REGISTRY_DATABASE_POOL_MAXLIFETIME: '5m',
    });
    assert.equal(config.database.kind, 'postgres');
    assert.deepEqual(config.database.kind === 'postgres' && config.database.postgres, {
      host: 'db.internal', port: 6432, user: 'postgres', password: '1234', dbname: 'registry', sslmode: 'verify-full', connectTimeoutMs: 0,
      pool: { maxOpen: 4, maxIdle: 0, maxLifetimeMs: 300_000, maxIdleTimeMs: 10_000 },
    });
    assert.deepEqual(loadConfig(configFile('storage:\n  filesystem:\n    rootdirectory: /srv/registry\n'), {}).config.database, { kind: 'sqlite', path: '/srv/registry/berth.sqlite' });
    assert.throws(() => loadConfig(path, { REGISTRY_DATABASE_SSLMODE: 'sometimes' }), /database\.sslmode/);
  });

  it('when booleans are spelled as YAML 1.1 (registry:2) spells them, by REGISTRY_* or in config.yml, then they are read as booleans', () => {
    const spellings: [string, boolean][] = [
      ...['true', 'True', 'TRUE', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'y', 'Y'].map((word) => [word, true] as [string, boolean]),
      ...['false', 'False', 'FALSE', 'no', 'No', 'NO', 'off', 'Off', 'OFF', 'n', 'N'].map((word) => [word, false] as [string, boolean]),
    ];
    for (const [word, expected] of spellings) {
      assert.equal(loadConfig(undefined, { REGISTRY_STORAGE_DELETE_ENABLED: word }).config.storage.deleteEnabled, expected, `REGISTRY_STORAGE_DELETE_ENABLED=${word}`);
      const path = configFile(`storage:\n  delete:\n    enabled: ${word}\n  maintenance:\n    readonly:\n      enabled: ${word}\n`);
      const { config } = loadConfig(path, {});
      assert.equal(config.storage.deleteEnabled, expected, `config.yml enabled: ${word}`);
      assert.equal(config.storage.readOnly, expected, `config.yml readonly: ${word}`);
    }
    const realm = loadConfig(configFile('auth:\n  htpasswd:\n    realm: yes\n    path: /h\n'), {}).config.auth;
    assert.match(JSON.stringify(realm), /"realm":"yes"/, 'a string key keeps "yes" as text');
  });

  it('when a boolean is spelled in a way registry:2 does not read as one, then startup stops naming the key', () => {
    for (const word of ['yEs', 'oN', 'tRue', '1', '0', 'enabled']) {
      assert.throws(
        () => loadConfig(undefined, { REGISTRY_STORAGE_DELETE_ENABLED: word }),
        (error: Error) => error instanceof ConfigError && /storage\.delete\.enabled: expected a boolean/.test(error.message),
        word,
      );
    }
  });

  it('when a key is unknown, then a warning names it and startup continues', () => {
    const path = configFile('storage:\n  delete:\n    enabled: true\n    speed: fast\nhttp:\n  addrr: :5000\nredis:\n  addr: localhost:6379\n');
    const { warnings } = loadConfig(path, { REGISTRY_HTTP_NOSUCH: 'x' });
    assert.ok(warnings.some((w) => w.includes('"storage.delete.speed"')), warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes('"http.addrr"')));
    assert.ok(warnings.some((w) => w.includes('"http.nosuch"')));
    assert.ok(warnings.some((w) => w.includes('"redis" is ignored')));
  });

  it('when a value is invalid, then startup stops with a message naming the key and what is expected', () => {
    const cases: [string, RegExp][] = [
      ['storage:\n  delete:\n    enabled: maybe\n', /storage\.delete\.enabled: .*boolean/],
      ['http:\n  addr: nowhere\n', /http\.addr: expected \[host\]:port/],
      ['http:\n  addr: :99999\n', /http\.addr/],
      ['storage:\n  maintenance:\n    uploadpurging:\n      age: forever\n', /storage\.maintenance\.uploadpurging\.age: expected a duration/],
      ['log:\n  level: chatty\n', /log\.level/],
      ['health:\n  storagedriver:\n    threshold: 0\n', /health\.storagedriver\.threshold/],
      ['http:\n  tls:\n    certificate: /only/cert\n', /certificate and key must be set together/],
      ['http:\n  headers:\n    "bad header": [x]\n', /not a valid header name/],
      ['- just\n- a list\n', /must hold a YAML mapping/],
      ['key: [unclosed\n', /not valid YAML/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => loadConfig(configFile(text), {}), (error: Error) => error instanceof ConfigError && message.test(error.message), `${text} → ${String(message)}`);
    }
    assert.throws(() => loadConfig(undefined, { REGISTRY_STORAGE_DELETE_ENABLED: 'perhaps' }), /storage\.delete\.enabled/);
    assert.throws(() => loadConfig('/no/such/config.yml', {}), /cannot read configuration file/);
  });

  it('when registry:2 htpasswd auth is configured, by file or REGISTRY_AUTH=htpasswd, then it is the Basic challenge with that file', () => {
    const path = configFile('http:\n  addr: 127.0.0.1:5000\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: /auth/htpasswd\n');
    const { config, warnings } = loadConfig(path, {});
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.auth?.challenge, { scheme: 'basic', realm: 'basic-realm' });
    assert.deepEqual(config.auth?.htpasswd, { path: '/auth/htpasswd' });
    assert.equal(config.auth?.accounts, false);
    const fromEnv = loadConfig(undefined, { REGISTRY_HTTP_ADDR: '127.0.0.1:5000', REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'r', REGISTRY_AUTH_HTPASSWD_PATH: '/h' }).config;
    assert.deepEqual(fromEnv.auth?.challenge, { scheme: 'basic', realm: 'r' });
    assert.deepEqual(fromEnv.auth?.htpasswd, { path: '/h' });
    assert.equal(loadConfig(undefined, {}).config.auth, undefined);
  });

  it('when an auth section cannot protect the registry, then startup refuses rather than serving an open registry', () => {
    const cases: [string, RegExp][] = [
      ['auth:\n  silly:\n    realm: x\n', /^auth: configure htpasswd, token or accounts/],
      ['auth:\n  htpasswd:\n    realm: basic\n', /auth\.htpasswd\.path: required/],
      ['auth:\n  token:\n    rootcertbundle: /certs/bundle.pem\n    service: s\n    issuer: i\n', /auth\.token\.realm: required/],
      ['auth:\n  clientcertificates: true\n  accounts: {}\n', /auth\.clientcertificates: requires http\.tls\.clientcas/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => loadConfig(configFile(text), {}), (error: Error) => error instanceof ConfigError && message.test(error.message), `${text} → ${String(message)}`);
    }
  });

  it('when token auth has no external keys, then Berth is the issuer with accounts, a 5 minute lifetime and a generated key', () => {
    const { config, warnings } = loadConfig(configFile('auth:\n  token:\n    service: my-registry\n'), {});
    assert.ok(warnings.some((w) => /plain HTTP/.test(w)), 'listening on every interface without TLS is warned about');
    assert.deepEqual(config.auth?.challenge, { scheme: 'bearer', realm: undefined, service: 'my-registry' });
    assert.equal(config.auth?.accounts, true);
    assert.equal(config.auth?.token?.lifetimeMs, 300_000);
    assert.deepEqual(config.auth?.token?.trust, { kind: 'builtin', signingKeyPath: join(process.cwd(), 'data', 'token-signing-key.pem'), generate: true });
  });

  it('when Go durations and addresses are parsed, then they follow Go and registry:2', () => {
    assert.equal(parseDuration('1h30m'), 90 * 60_000);
    assert.equal(parseDuration('300ms'), 300);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration(1_000_000_000), 1000);
    assert.equal(parseDuration('0'), 0);
    for (const bad of ['', 'h', '10', '10x', '-1s']) assert.equal(parseDuration(bad), undefined, bad);
    assert.deepEqual(parseAddress(':5000'), { host: '0.0.0.0', port: 5000 });
    assert.deepEqual(parseAddress('[::1]:5000'), { host: '::1', port: 5000 });
    assert.deepEqual(parseAddress('localhost:0'), { host: 'localhost', port: 0 });
  });
});

describe('operations configuration', () => {
  it('when notifications and http.debug are configured as registry:2 has them, then they are read, not ignored', () => {
    const path = configFile([
      'http:',
      '  debug:',
      '    addr: 127.0.0.1:5001',
      '    prometheus:',
      '      enabled: true',
      '      path: /metrics',
      'notifications:',
      '  endpoints:',
      '    - name: alistener',
      '      url: https://mylistener.example.com/event',
      '      headers:',
      '        Authorization: [Bearer abc]',
      '      timeout: 500ms',
      '      threshold: 5',
      '      backoff: 1s',
      '      ignoredmediatypes: [application/octet-stream]',
      '      ignore:',
      '        actions: [pull]',
      '    - name: off',
      '      disabled: true',
      '      url: http://127.0.0.1:1/',
      '',
    ].join('\n'));
    const { config, warnings } = loadConfig(path, {});
    assert.ok(!warnings.some((w) => w.includes('notifications') || w.includes('debug')), warnings.join('\n'));
    assert.deepEqual(config.http.debug, { host: '127.0.0.1', port: 5001, prometheus: { path: '/metrics' } });
    assert.equal(config.notifications.endpoints.length, 1);
    const [endpoint] = config.notifications.endpoints;
    assert.equal(endpoint!.name, 'alistener');
    assert.equal(endpoint!.timeoutMs, 500);
    assert.deepEqual(endpoint!.headers, { authorization: ['Bearer abc'] });
    assert.deepEqual(endpoint!.ignoredMediaTypes, ['application/octet-stream']);
    assert.deepEqual(endpoint!.ignoredActions, ['pull']);
    assert.equal(config.notifications.includePulls, false);
  });

  it('when prometheus is enabled without a debug address, then startup stops naming the key', () => {
    assert.throws(() => loadConfig(configFile('http:\n  debug:\n    prometheus:\n      enabled: true\n'), {}), /http\.debug\.prometheus: requires http\.debug\.addr/);
  });

  it('when storage.s3 is configured with registry:2 keys, then the typed config holds them with registry:2 defaults', () => {
    const path = configFile(`
storage:
  s3:
    region: us-east-1
    regionendpoint: rgw.internal:7480
    secure: false
    bucket: registry
    accesskey: AKIDEXAMPLE
    secretkey: not-in-any-log
    rootdirectory: /berth/
  redirect:
    disable: true
`);
    const { config } = loadConfig(path, {});
    assert.deepEqual(config.storage.s3, {
      kind: 's3', region: 'us-east-1', endpoint: 'http://rgw.internal:7480', bucket: 'registry',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-in-any-log' }, forcePathStyle: true, rootDirectory: 'berth',
      chunkSize: 10 * 1024 * 1024, multipartCopyThresholdSize: 32 * 1024 * 1024, encrypt: false, skipVerify: false,
    });
    assert.deepEqual(config.storage.redirect, { disabled: true });
    assert.deepEqual(loadConfig(undefined, {}).config.storage.redirect, { disabled: false });
  });

  it('when REGISTRY_STORAGE=s3 and REGISTRY_STORAGE_S3_* are set, then they pick and configure the S3 driver over the file\'s filesystem', () => {
    const path = configFile('storage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n');
    const { config } = loadConfig(path, {
      REGISTRY_STORAGE: 's3', REGISTRY_STORAGE_S3_REGION: 'eu-west-1', REGISTRY_STORAGE_S3_BUCKET: 'images',
      REGISTRY_STORAGE_S3_CHUNKSIZE: '16MiB', REGISTRY_STORAGE_S3_ENCRYPT: 'true', REGISTRY_STORAGE_S3_SKIPVERIFY: 'yes',
    });
    assert.equal(config.storage.s3?.bucket, 'images');
    assert.equal(config.storage.s3?.endpoint, undefined);
    assert.equal(config.storage.s3?.credentials, undefined, 'no keys: the SDK\'s default credential chain');
    assert.equal(config.storage.s3?.forcePathStyle, false);
    assert.equal(config.storage.s3?.chunkSize, 16 * 1024 * 1024);
    assert.equal(config.storage.s3?.encrypt, true);
    assert.equal(config.storage.s3?.skipVerify, true);
  });

  it('when storage.s3 is half configured, then loading stops with the reason', () => {
    const load = (text: string) => loadConfig(configFile(text), {});
    assert.throws(() => load('storage:\n  s3:\n    region: r\n    bucket: b\n    accesskey: only-one\n'), /accesskey and secretkey together/);
    assert.throws(() => load('storage:\n  s3:\n    region: r\n    bucket: b\n    chunksize: 1048576\n'), /at least 5 MiB/);
    assert.throws(() => load('storage:\n  s3:\n    region: r\n'), /bucket/);
    assert.throws(() => load('storage:\n  filesystem:\n    rootdirectory: /x\n  s3:\n    region: r\n    bucket: b\n'), /one driver/);
  });

  it('when replicas would issue tokens with a generated key each, then loading stops; a shared key file is accepted', () => {
    const replicas = 'storage:\n  s3:\n    region: r\n    bucket: b\ndatabase:\n  enabled: true\n  host: db\nauth:\n  accounts: {}\n  token:\n    realm: https://registry.example/token\n    service: registry\n    issuer: berth\n';
    assert.throws(() => loadConfig(configFile(replicas), {}), /same signing key file on every replica/);
    assert.equal(loadConfig(configFile(`${replicas}    signingkey: /etc/berth/token-key.pem\n`), {}).config.auth?.token?.trust.kind, 'builtin');
  });
});
