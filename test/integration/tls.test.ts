import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startInProcess, type TestRegistry } from '../support/in-process.js';

const run = promisify(execFile);

describe('the TLS port', () => {
  let dir: string;
  let ca: Buffer;
  let registry: TestRegistry;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
    ca = await readFile(cert);
    registry = await startInProcess({ http: { tls: { certificate: cert, key } } });
  });
  after(async () => {
    await registry.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  function getTls(path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      request(new URL(path, registry.url), { ca }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject).end();
    });
  }

  it('when plain HTTP is sent to the TLS port, then 400 with a hint to use https://, and TLS clients are still served', async () => {
    const plain = await fetch(registry.url.replace(/^https:/, 'http:') + '/v2/');
    assert.equal(plain.status, 400);
    assert.equal(plain.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.match(await plain.text(), /^Client sent an HTTP request to an HTTPS server: .*use https:\/\//);
    assert.equal(await getTls('/v2/'), 200);
  });

  it('when a connection to the TLS port has sent nothing yet, then closing the server does not wait for it', { timeout: 30_000 }, async () => {
    const url = new URL(registry.url);
    const silent = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve, reject) => silent.once('connect', resolve).once('error', reject));
    const closed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    silent.on('error', () => {});
    assert.equal(await getTls('/v2/'), 200, 'the acceptor has sorted another connection meanwhile');
    await registry.close();
    await closed;
  });
});
