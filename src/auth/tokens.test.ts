import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { ExternalTokenVerifier, InvalidTokenError, jwkThumbprint, libtrustKeyId, loadSigningKey, TokenSigner } from './tokens.js';

const access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];

function tamper(token: string): string {
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
  claims.access = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];
  return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
}

async function rejects(promise: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(promise, (error: Error) => error instanceof InvalidTokenError && reason.test(error.message));
}

describe('tokens of the built-in issuer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-tokens-'));
  const { key, created } = loadSigningKey(join(dir, 'key.pem'), true);
  const signer = new TokenSigner(key, 'berth', 'registry.test');

  it('when the key is generated, then it is EC P-256 (ES256), mode 0600, and kept for the next start', () => {
    assert.equal(created, true);
    assert.equal(key.algorithm, 'ES256');
    assert.equal(statSync(join(dir, 'key.pem')).mode & 0o777, 0o600);
    const again = loadSigningKey(join(dir, 'key.pem'), true);
    assert.equal(again.created, false);
    assert.equal(again.key.kid, key.kid);
    assert.throws(() => loadSigningKey(join(dir, 'missing.pem'), false), /does not exist/);
  });

  it('when a token is signed, then it verifies with its subject and access; tampered, expired or for another service it does not', async () => {
    const token = await signer.sign('alice', access, 300, 'database');
    assert.deepEqual(await signer.verify(token), { subject: 'alice', access, local: true, source: 'database' });
    await rejects(signer.verify(tamper(token)), /signature/);
    await rejects(signer.verify(await signer.sign('alice', access, 1, undefined, Math.floor(Date.now() / 1000) - 3600)), /expired/);
    await rejects(new TokenSigner(key, 'berth', 'another-service').verify(token), /aud/);
    await rejects(new TokenSigner(key, 'someone-else', 'registry.test').verify(token), /iss/);
    const otherKey = loadSigningKey(join(dir, 'other.pem'), true).key;
    await rejects(new TokenSigner(otherKey, 'berth', 'registry.test').verify(token), /signature/);
    await rejects(signer.verify('not.a.token'), /malformed/);
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${token.split('.')[1]}.`;
    await rejects(signer.verify(unsigned), /./);
  });

  it('when a refresh token is used as an access token (or the reverse), then it is refused', async () => {
    const refresh = await signer.signRefresh({ subject: 'alice', credential: 'fp' }, 3600);
    await rejects(signer.verify(refresh), /refresh token cannot be used/);
    assert.deepEqual(await signer.verifyRefresh(refresh), { subject: 'alice', credential: 'fp' });
    await rejects(signer.verifyRefresh(await signer.sign('alice', access, 60)), /not a refresh token/);
  });
});

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

describe('tokens of an external issuer (auth.token rootcertbundle / jwks)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-external-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test token CA'], dir);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=token signer'], dir);
  openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2'], dir);
  const leafKey = createPrivateKey(readFileSync(join(dir, 'leaf.key')));
  const caKey = createPrivateKey(readFileSync(join(dir, 'ca.key')));
  const der = (file: string) => new X509Certificate(readFileSync(join(dir, file))).raw.toString('base64');
  const verifier = new ExternalTokenVerifier({ issuer: 'auth.example', service: 'registry.test', rootCertBundle: join(dir, 'ca.pem') });

  const sign = (key: typeof leafKey, header: Record<string, unknown>, claims: Record<string, unknown> = {}) =>
    new SignJWT({ access, ...claims })
      .setProtectedHeader({ alg: 'ES256', ...header })
      .setIssuer('auth.example')
      .setAudience('registry.test')
      .setSubject('bob')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);

  it('when the token carries a chain to a trusted root (x5c), then it verifies; a chain to another root does not', async () => {
    assert.deepEqual(await verifier.verify(await sign(leafKey, { x5c: [der('leaf.pem'), der('ca.pem')] })), { subject: 'bob', access, local: false });
    assert.deepEqual((await verifier.verify(await sign(leafKey, { x5c: [der('leaf.pem')] }))).subject, 'bob');
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await rejects(verifier.verify(await sign(stranger, { x5c: [der('leaf.pem')] })), /signature/);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'rogue.key', '-out', 'rogue.pem', '-days', '2', '-subj', '/CN=rogue'], dir);
    await rejects(verifier.verify(await sign(createPrivateKey(readFileSync(join(dir, 'rogue.key'))), { x5c: [der('rogue.pem')] })), /trusted root/);
  });

  it('when the token names a root key by kid (libtrust or JWK thumbprint), then it verifies; an unknown kid does not', async () => {
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.pem')));
    assert.match(libtrustKeyId(ca.publicKey), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    assert.equal((await verifier.verify(await sign(caKey, { kid: libtrustKeyId(ca.publicKey) }))).subject, 'bob');
    assert.equal((await verifier.verify(await sign(caKey, { kid: jwkThumbprint(ca.publicKey) }))).subject, 'bob');
    await rejects(verifier.verify(await sign(caKey, { kid: 'unknown' })), /no trusted signing key/);
    await rejects(verifier.verify(await sign(caKey, {})), /no trusted signing key/);
  });

  it('when keys come from a JWKS file, then a token naming one by kid verifies', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
    const jwks = new ExternalTokenVerifier({ issuer: 'auth.example', service: 'registry.test', jwks: join(dir, 'jwks.json') });
    assert.equal((await jwks.verify(await sign(privateKey, { kid: 'k1' }))).subject, 'bob');
    await rejects(jwks.verify(await sign(privateKey, { kid: 'k2' })), /not trusted|no trusted/);
  });
});
