import type { AuthenticationResult, Authenticator, ClientCredentials } from './principal.js';
import { InvalidTokenError, type TokenVerifier } from './tokens.js';

/** `Bearer <jwt>`: a token from the built-in or a trusted external issuer. */
export class BearerAuthenticator implements Authenticator {
  constructor(private readonly verifier: TokenVerifier) {}

  async authenticate(credentials: ClientCredentials): Promise<AuthenticationResult> {
    const header = credentials.authorization;
    if (header === undefined || !/^bearer(?: |$)/i.test(header)) return { outcome: 'not-mine' };
    const token = /^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*) *$/i.exec(header)?.[1];
    if (!token) return { outcome: 'rejected', reason: 'malformed Bearer token' };
    try {
      const claims = await this.verifier.verify(token);
      if (claims.subject === '') return { outcome: 'authenticated', principal: { kind: 'anonymous', claims: claims.access, localToken: claims.local } };
      return { outcome: 'authenticated', principal: { kind: 'user', name: claims.subject, source: claims.source ?? 'token', claims: claims.access, localToken: claims.local } };
    } catch (error) {
      if (error instanceof InvalidTokenError) return { outcome: 'rejected', reason: error.message };
      throw error;
    }
  }
}
