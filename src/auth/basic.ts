import type { PasswordVerifier } from './passwords-source.js';
import type { AuthenticationResult, Authenticator, ClientCredentials } from './principal.js';
import type { LoginThrottle } from './throttle.js';

/** `Basic base64(user:password)` (RFC 7617); undefined when malformed. */
export function parseBasic(header: string): { user: string; password: string } | undefined {
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || /[\x00-\x1f\x7f]/.test(decoded)) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function isBasic(header: string | undefined): boolean {
  return header !== undefined && /^basic(?: |$)/i.test(header);
}

export interface BasicOptions {
  /** Accept Basic over plain HTTP from a non-loopback connection (`auth.allowinsecurebasic`). */
  allowInsecure: boolean;
}

/** Checks Basic credentials against htpasswd and/or the access store, throttling failures. */
export class BasicAuthenticator implements Authenticator {
  constructor(
    private readonly passwords: PasswordVerifier,
    private readonly throttle: LoginThrottle,
    private readonly options: BasicOptions,
  ) {}

  async authenticate(credentials: ClientCredentials): Promise<AuthenticationResult> {
    const header = credentials.authorization;
    if (!isBasic(header)) return { outcome: 'not-mine' };
    if (!credentials.secure && !credentials.loopback && !this.options.allowInsecure) {
      return {
        outcome: 'rejected',
        reason: 'Basic credentials are refused over plain HTTP on a non-loopback address: serve TLS (http.tls) or set auth.allowinsecurebasic',
      };
    }
    const parsed = parseBasic(header!);
    if (!parsed) return { outcome: 'rejected', reason: 'malformed Basic credentials' };
    const address = credentials.remoteAddress;
    const locked = this.throttle.blocked(address, parsed.user);
    if (locked !== undefined) return throttled(locked);
    const user = await this.passwords.verify(parsed.user, parsed.password);
    if (!user) {
      const lockedNow = this.throttle.failed(address, parsed.user);
      return lockedNow === undefined ? { outcome: 'rejected', reason: 'invalid username or password' } : throttled(lockedNow);
    }
    this.throttle.succeeded(address, parsed.user);
    return { outcome: 'authenticated', principal: { kind: 'user', name: user.name, source: user.source } };
  }
}

function throttled(retryAfterSeconds: number): AuthenticationResult {
  return { outcome: 'rejected', reason: 'too many failed logins for this user from this client', throttled: { retryAfterSeconds } };
}
