import type { ResourceAccess } from './access.js';

/**
 * Who is asking. `claims` is set for a bearer token: the token itself says what it grants,
 * and nothing outside it can widen that.
 */
export type IdentitySource = 'htpasswd' | 'database' | 'token' | 'certificate';

export type Principal =
  | { kind: 'anonymous'; claims?: ResourceAccess[]; localToken?: boolean }
  | {
      kind: 'user';
      name: string;
      source: IdentitySource;
      /** Access a bearer token carries; undefined for password and certificate logins. */
      claims?: ResourceAccess[];
      /** The token was signed by this Berth (so its subject is one of our users). */
      localToken?: boolean;
    };

export const ANONYMOUS: Principal = { kind: 'anonymous' };

/** What an authenticator may look at: protocol-neutral facts about the request. */
export interface ClientCredentials {
  /** The raw `Authorization` header, if any. */
  authorization?: string;
  /** The peer address (throttling key). */
  remoteAddress: string;
  /** Whether the connection is TLS. */
  secure: boolean;
  /** Whether the local end of the connection is a loopback address. */
  loopback: boolean;
  /** A client certificate the TLS layer verified against `http.tls.clientcas`. */
  certificate?: { subject: string };
}

export type AuthenticationResult =
  | { outcome: 'authenticated'; principal: Principal }
  | { outcome: 'rejected'; reason: string; throttled?: { retryAfterSeconds: number } }
  | { outcome: 'not-mine' };

/** One link of the chain: answers for credentials it understands, `not-mine` for the rest. */
export interface Authenticator {
  authenticate(credentials: ClientCredentials): Promise<AuthenticationResult>;
}

/**
 * Runs the chain in order; the first answer that is not `not-mine` wins. When every link
 * passes, the client is anonymous.
 */
export class AuthenticatorChain implements Authenticator {
  constructor(private readonly links: readonly Authenticator[]) {}

  async authenticate(credentials: ClientCredentials): Promise<AuthenticationResult> {
    for (const link of this.links) {
      const result = await link.authenticate(credentials);
      if (result.outcome !== 'not-mine') return result;
    }
    return { outcome: 'authenticated', principal: ANONYMOUS };
  }
}

export function principalName(principal: Principal): string {
  return principal.kind === 'anonymous' ? '(anonymous)' : principal.name;
}
