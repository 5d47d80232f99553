import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify, SignJWT, type JWK, type JWSHeaderParameters, type JWTPayload } from 'jose';
import type { ResourceAccess } from './access.js';

type LocalJwks = ReturnType<typeof createLocalJWKSet>;

/**
 * Bearer tokens as the Docker token specification describes them: a JWT whose `access` claim
 * lists what it grants, checked for signature, issuer, audience (the service) and expiry.
 * The built-in issuer signs with ES256 (an EC P-256 key) or RS256 (an RSA key); the key comes
 * from configuration or is generated on first start and kept with mode 0600.
 */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  algorithm: 'ES256' | 'RS256';
  kid: string;
}

/** Reads a PEM private key; when `create` and the file is missing, generates a P-256 key there (0600). */
export function loadSigningKey(path: string, create: boolean): { key: SigningKey; created: boolean } {
  let created = false;
  if (!existsSync(path)) {
    if (!create) throw new Error(`token signing key ${path} does not exist`);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    try {
      writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(path));
  } catch (error) {
    throw new Error(`cannot read token signing key ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const publicKey = createPublicKey(privateKey);
  let algorithm: SigningKey['algorithm'];
  if (privateKey.asymmetricKeyType === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') algorithm = 'ES256';
  else if (privateKey.asymmetricKeyType === 'rsa' && (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) algorithm = 'RS256';
  else throw new Error(`token signing key ${path} must be an EC P-256 or an RSA (2048 bits or more) key`);
  return { key: { privateKey, publicKey, algorithm, kid: jwkThumbprint(publicKey) }, created };
}

export interface AccessClaims {
  subject: string;
  access: ResourceAccess[];
  /** The token was signed by this Berth. */
  local: boolean;
  /** For our own tokens: where the subject's password lives. */
  source?: 'htpasswd' | 'database';
}

export interface RefreshClaims {
  subject: string;
  /** A fingerprint of the password hash at issue: a changed password voids the refresh token. */
  credential: string;
}

/** A token that fails a check; the message says which (never the token). */
export class InvalidTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTokenError';
  }
}

export interface TokenVerifier {
  verify(token: string): Promise<AccessClaims>;
}

const CLOCK_SKEW_SECONDS = 30;

export class TokenSigner implements TokenVerifier {
  constructor(
    private readonly key: SigningKey,
    readonly issuer: string,
    readonly service: string,
  ) {}

  async sign(subject: string, access: ResourceAccess[], lifetimeSeconds: number, source?: 'htpasswd' | 'database', now = Math.floor(Date.now() / 1000)): Promise<string> {
    return new SignJWT(source ? { access, src: source } : { access })
      .setProtectedHeader({ alg: this.key.algorithm, typ: 'JWT', kid: this.key.kid })
      .setIssuer(this.issuer)
      .setSubject(subject)
      .setAudience(this.service)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + lifetimeSeconds)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
  }

  async signRefresh(claims: RefreshClaims, lifetimeSeconds: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ use: 'refresh', cred: claims.credential })
      .setProtectedHeader({ alg: this.key.algorithm, typ: 'JWT', kid: this.key.kid })
      .setIssuer(this.issuer)
      .setSubject(claims.subject)
      .setAudience(this.service)
      .setIssuedAt(now)
      .setExpirationTime(now + lifetimeSeconds)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
  }

  async verify(token: string): Promise<AccessClaims> {
    const payload = await checked(() => jwtVerify(token, this.key.publicKey, this.options()));
    if (payload.use !== undefined) throw new InvalidTokenError('a refresh token cannot be used as an access token');
    const source = payload.src === 'htpasswd' || payload.src === 'database' ? payload.src : undefined;
    return { subject: payload.sub ?? '', access: accessClaim(payload), local: true, source };
  }

  async verifyRefresh(token: string): Promise<RefreshClaims> {
    const payload = await checked(() => jwtVerify(token, this.key.publicKey, this.options()));
    if (payload.use !== 'refresh' || typeof payload.cred !== 'string' || !payload.sub) throw new InvalidTokenError('not a refresh token');
    return { subject: payload.sub, credential: payload.cred };
  }

  private options() {
    return { issuer: this.issuer, audience: this.service, algorithms: [this.key.algorithm], clockTolerance: CLOCK_SKEW_SECONDS, requiredClaims: ['exp', 'sub'] };
  }
}

/**
 * Trusts tokens signed by an external issuer, as registry:2's `auth.token` does: keys from a
 * root certificate bundle (a token carries its chain in `x5c`, or names a root's key by `kid`)
 * and/or a JWKS file (keys by `kid`).
 */
export class ExternalTokenVerifier implements TokenVerifier {
  private readonly roots: X509Certificate[];
  private readonly rootKeys = new Map<string, KeyObject>();
  private readonly jwks: LocalJwks | undefined;

  constructor(
    private readonly options: { issuer: string; service: string; rootCertBundle?: string; jwks?: string },
  ) {
    this.roots = options.rootCertBundle ? readCertificates(options.rootCertBundle) : [];
    for (const root of this.roots) {
      this.rootKeys.set(libtrustKeyId(root.publicKey), root.publicKey);
      this.rootKeys.set(jwkThumbprint(root.publicKey), root.publicKey);
    }
    this.jwks = options.jwks ? createLocalJWKSet(JSON.parse(readFileSync(options.jwks, 'utf8')) as { keys: JWK[] }) : undefined;
    if (this.roots.length === 0 && !this.jwks) throw new Error('auth.token: rootcertbundle or jwks must hold at least one key');
  }

  async verify(token: string): Promise<AccessClaims> {
    const payload = await checked(() =>
      jwtVerify(token, (header) => this.keyFor(header), {
        issuer: this.options.issuer,
        audience: this.options.service,
        algorithms: ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'],
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['exp'],
      }),
    );
    return { subject: payload.sub ?? '', access: accessClaim(payload), local: false };
  }

  private async keyFor(header: JWSHeaderParameters): Promise<KeyObject | Awaited<ReturnType<LocalJwks>>> {
    if (header.x5c && header.x5c.length > 0 && this.roots.length > 0) return this.chainKey(header.x5c);
    if (header.kid !== undefined) {
      const root = this.rootKeys.get(header.kid);
      if (root) return root;
      if (this.jwks) return this.jwks(header as Parameters<LocalJwks>[0]);
    }
    throw new InvalidTokenError('the token names no trusted signing key');
  }

  private chainKey(x5c: string[]): KeyObject {
    const chain = x5c.map((der) => {
      try {
        return new X509Certificate(Buffer.from(der, 'base64'));
      } catch {
        throw new InvalidTokenError('the token carries a malformed certificate chain');
      }
    });
    const now = Date.now();
    for (const cert of chain) {
      if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now) throw new InvalidTokenError('a certificate in the token chain is not valid now');
    }
    for (let i = 0; i + 1 < chain.length; i++) {
      if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) throw new InvalidTokenError('the token certificate chain is broken');
    }
    const top = chain[chain.length - 1]!;
    const anchored = this.roots.some((root) => root.fingerprint256 === top.fingerprint256 || (top.checkIssued(root) && top.verify(root.publicKey)));
    if (!anchored) throw new InvalidTokenError('the token certificate chain does not lead to a trusted root');
    return chain[0]!.publicKey;
  }
}

function readCertificates(path: string): X509Certificate[] {
  const text = readFileSync(path, 'utf8');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((pem) => new X509Certificate(pem));
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC, RSA or OKP public key. */
export function jwkThumbprint(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' }) as Record<string, string>;
  const members = jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : ['crv', 'kty', 'x'];
  const canonical = `{${members.map((name) => `"${name}":"${jwk[name]}"`).join(',')}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

/** libtrust's key id (what registry:2 token issuers put in `kid`): base32 of 240 bits of SHA-256(SPKI), in groups of 4. */
export function libtrustKeyId(key: KeyObject): string {
  const digest = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)!.join(':');
}

async function checked(verify: () => Promise<{ payload: JWTPayload }>): Promise<JWTPayload> {
  try {
    return (await verify()).payload;
  } catch (error) {
    if (error instanceof InvalidTokenError) throw error;
    const code = (error as { code?: string }).code ?? '';
    const reason = code === 'ERR_JWT_EXPIRED' ? 'the token has expired'
      : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' ? `the token's ${(error as { claim?: string }).claim ?? ''} claim does not match`
      : code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' ? 'the token signature does not verify'
      : 'the token is malformed or not trusted';
    throw new InvalidTokenError(reason);
  }
}

/** The `access` claim, keeping only well-formed entries. */
function accessClaim(payload: JWTPayload): ResourceAccess[] {
  const raw = payload.access;
  if (!Array.isArray(raw)) return [];
  const access: ResourceAccess[] = [];
  for (const entry of raw as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { type, name, actions } = entry as Record<string, unknown>;
    if (typeof type !== 'string' || typeof name !== 'string' || !Array.isArray(actions)) continue;
    access.push({ type, name, actions: actions.filter((action): action is string => typeof action === 'string') });
  }
  return access;
}
