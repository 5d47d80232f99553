import type { AuthenticationResult, Authenticator, ClientCredentials } from './principal.js';

/**
 * A TLS client certificate verified against `http.tls.clientcas` authenticates its subject's
 * common name as a user (roles then decide what it may do). Without one: not mine.
 */
export class ClientCertificateAuthenticator implements Authenticator {
  async authenticate(credentials: ClientCredentials): Promise<AuthenticationResult> {
    if (!credentials.certificate || credentials.authorization !== undefined) return { outcome: 'not-mine' };
    const name = credentials.certificate.subject;
    if (name === '') return { outcome: 'rejected', reason: 'the client certificate has no common name' };
    return { outcome: 'authenticated', principal: { kind: 'user', name, source: 'certificate' } };
  }
}
