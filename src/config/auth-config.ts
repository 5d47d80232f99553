import { join } from 'node:path';
import type { AuthConfig } from './config.js';
import { parseDuration } from './duration.js';
import { isLoopbackHost } from './open-access.js';
import type { RawConfig } from './schema.js';

/**
 * `auth` as registry:2 writes it (`htpasswd`, `token`) plus Berth's `accounts`, normalised into
 * one typed shape. A present but unusable section stops startup: a registry its operator
 * believes protected must never come up open.
 */
export function normaliseAuth(
  raw: RawConfig['auth'],
  context: { dataDirectory: string; host: string; tls: boolean; clientCas: boolean },
  fail: (message: string) => Error,
  warnings: string[],
): AuthConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const { htpasswd, token, accounts } = raw;
  if (!htpasswd && !token && !accounts) {
    throw fail('auth: configure htpasswd, token or accounts (other registry:2 auth kinds such as silly are not supported); refusing to start an open registry');
  }
  if (htpasswd && !htpasswd.path) throw fail('auth.htpasswd.path: required (the file htpasswd -Bbn writes)');

  let tokenConfig: AuthConfig['token'];
  if (token) {
    const external = token.rootcertbundle !== undefined || token.jwks !== undefined;
    if (external) {
      for (const key of ['realm', 'service', 'issuer'] as const) {
        if (!token[key]) throw fail(`auth.token.${key}: required to trust an external token issuer`);
      }
      if (token.signingkey) throw fail('auth.token.signingkey: only for the built-in issuer (leave out rootcertbundle and jwks)');
    }
    if (token.signingalgorithms?.length) warnings.push('auth.token.signingalgorithms is ignored: Berth accepts the usual ES/RS/PS/EdDSA algorithms');
    tokenConfig = {
      service: token.service ?? 'berth',
      issuer: token.issuer ?? 'berth',
      lifetimeMs: durationOr(token.expiration, 5 * 60_000),
      refreshLifetimeMs: durationOr(token.refreshexpiration, 720 * 3_600_000),
      trust: external
        ? { kind: 'external', rootCertBundle: token.rootcertbundle, jwks: token.jwks }
        : { kind: 'builtin', signingKeyPath: token.signingkey ?? join(context.dataDirectory, 'token-signing-key.pem'), generate: token.signingkey === undefined },
    };
    if (tokenConfig.lifetimeMs < 1000) throw fail('auth.token.expiration: must be at least 1s');
  }

  const accountsEnabled = (accounts !== undefined && accounts !== null && accounts.enabled !== false) || tokenConfig?.trust.kind === 'builtin';
  if (raw.clientcertificates && !context.clientCas) throw fail('auth.clientcertificates: requires http.tls.clientcas');

  const allowInsecureBasic = raw.allowinsecurebasic ?? false;
  if (!context.tls && !isLoopbackHost(context.host)) {
    warnings.push(
      allowInsecureBasic
        ? `auth: the registry listens on ${context.host} over plain HTTP and auth.allowinsecurebasic is set, so passwords cross the network in clear text; serve TLS (http.tls) or put a TLS proxy in front`
        : `auth: the registry listens on ${context.host} over plain HTTP, so Basic credentials from non-loopback connections are refused (they would cross the network in clear text); serve TLS (http.tls), or set auth.allowinsecurebasic behind a TLS-terminating proxy`,
    );
  }

  return {
    challenge: tokenConfig
      ? { scheme: 'bearer', realm: token?.realm, service: tokenConfig.service }
      : { scheme: 'basic', realm: htpasswd?.realm ?? accounts?.realm ?? 'berth' },
    htpasswd: htpasswd?.path ? { path: htpasswd.path } : undefined,
    accounts: accountsEnabled,
    token: tokenConfig,
    throttle: throttleOptions(raw.throttle),
    credentialCacheTtlMs: durationOr(raw.cachettl, 60_000),
    allowInsecureBasic,
    clientCertificates: raw.clientcertificates ?? false,
    dataDirectory: context.dataDirectory,
  };
}

function durationOr(value: string | number | undefined, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value)!;
}

function throttleOptions(raw: NonNullable<RawConfig['auth']>['throttle']): AuthConfig['throttle'] {
  const maxFailures = raw?.failures ?? 10;
  return { maxFailures, userMaxFailures: raw?.userfailures ?? maxFailures * 5, windowMs: durationOr(raw?.window, 60_000) };
}
