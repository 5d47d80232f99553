import { createHash } from 'node:crypto';
import { CATALOG_ACCESS, parseScopes, ScopeError, type ResourceAccess } from './access.js';
import type { Authorizer } from './authorizer.js';
import type { PasswordVerifier } from './passwords-source.js';
import { secretsEqual } from './passwords.js';
import type { Principal } from './principal.js';
import { InvalidTokenError, type TokenSigner } from './tokens.js';

/**
 * The built-in token service (Docker token authentication specification): given an
 * authenticated principal and requested scopes, it issues a JWT carrying exactly what
 * `Authorizer.grant` allows, one entry per requested resource (possibly with no actions, so the
 * registry can tell "denied" from "not asked for"). Refresh tokens (OAuth2 `refresh_token`
 * grant, or `offline_token=true`) are JWTs bound to the user's current password hash.
 */
export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope?: string;
  refresh_token?: string;
}

/** OAuth2 error codes (RFC 6749 §5.2) the token endpoint answers with. */
export type TokenErrorCode = 'invalid_request' | 'invalid_scope' | 'invalid_grant' | 'invalid_client' | 'unsupported_grant_type';

/** A refused token request; its own surface (OAuth2), serialised by the token endpoint. */
export class TokenRequestError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TokenRequestError';
  }

  get status(): number {
    return this.code === 'invalid_client' ? 401 : 400;
  }
}

export interface TokenServiceOptions {
  service: string;
  lifetimeSeconds: number;
  refreshLifetimeSeconds: number;
}

export class TokenService {
  constructor(
    private readonly signer: TokenSigner,
    private readonly authorizer: Authorizer,
    private readonly passwords: PasswordVerifier,
    readonly options: TokenServiceOptions,
  ) {}

  get service(): string {
    return this.options.service;
  }

  /** Parses `scope` values; a malformed one is `invalid_scope`. */
  parseScopes(values: string[]): ResourceAccess[] {
    try {
      return parseScopes(values);
    } catch (error) {
      if (error instanceof ScopeError) throw new TokenRequestError('invalid_scope', error.message);
      throw error;
    }
  }

  checkService(service: string | null): void {
    if (service !== null && service !== this.options.service) {
      throw new TokenRequestError('invalid_request', `this token service issues tokens for service "${this.options.service}", not "${service.slice(0, 100)}"`);
    }
  }

  async issue(principal: Principal, requested: ResourceAccess[], offline: boolean): Promise<TokenResponse> {
    const granted = await this.authorizer.grant(principal, requested.filter(known));
    const subject = principal.kind === 'user' ? principal.name : '';
    const source = principal.kind === 'user' && (principal.source === 'htpasswd' || principal.source === 'database') ? principal.source : undefined;
    const now = Math.floor(Date.now() / 1000);
    const token = await this.signer.sign(subject, granted, this.options.lifetimeSeconds, source, now);
    const response: TokenResponse = {
      token,
      access_token: token,
      expires_in: this.options.lifetimeSeconds,
      issued_at: new Date(now * 1000).toISOString(),
    };
    const scope = granted.filter((entry) => entry.actions.length > 0).map((entry) => `${entry.type}:${entry.name}:${entry.actions.join(',')}`);
    if (scope.length > 0) response.scope = scope.join(' ');
    if (offline && principal.kind === 'user') {
      const stored = await this.passwords.find(principal.name);
      if (stored) response.refresh_token = await this.signer.signRefresh({ subject: principal.name, credential: fingerprint(stored.hash) }, this.options.refreshLifetimeSeconds);
    }
    return response;
  }

  /** The OAuth2 `refresh_token` grant: the user must still exist with the same password. */
  async refresh(refreshToken: string, requested: ResourceAccess[]): Promise<TokenResponse> {
    let claims;
    try {
      claims = await this.signer.verifyRefresh(refreshToken);
    } catch (error) {
      if (error instanceof InvalidTokenError) throw new TokenRequestError('invalid_grant', `invalid refresh token: ${error.message}`);
      throw error;
    }
    const stored = await this.passwords.find(claims.subject);
    if (!stored || !secretsEqual(fingerprint(stored.hash), claims.credential)) {
      throw new TokenRequestError('invalid_grant', 'the refresh token is no longer valid (user removed or password changed)');
    }
    const response = await this.issue({ kind: 'user', name: stored.name, source: stored.source }, requested, false);
    return { ...response, refresh_token: refreshToken };
  }
}

/** Only repository and catalog scopes are ever granted; other types are dropped, not refused. */
function known(entry: ResourceAccess): boolean {
  return entry.type === 'repository' || (entry.type === CATALOG_ACCESS.type && entry.name === CATALOG_ACCESS.name);
}

function fingerprint(hash: string): string {
  return createHash('sha256').update(hash).digest('base64url').slice(0, 22);
}
