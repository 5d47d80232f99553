import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { AuthConfig } from './config/config.js';
import type { AccessStore } from './auth/access-store.js';
import { Accounts } from './auth/accounts.js';
import { AuthenticatedFullAccess, RoleAuthorizer, type Authorizer } from './auth/authorizer.js';
import { BasicAuthenticator } from './auth/basic.js';
import { BearerAuthenticator } from './auth/bearer.js';
import { ClientCertificateAuthenticator } from './auth/certificate.js';
import { DatabasePasswords } from './auth/database-passwords.js';
import { AccessGate } from './auth/gate.js';
import { HtpasswdFile } from './auth/htpasswd.js';
import { PasswordVerifier, type PasswordSource } from './auth/passwords-source.js';
import { AuthenticatorChain, type Authenticator } from './auth/principal.js';
import { LoginThrottle } from './auth/throttle.js';
import { TokenService } from './auth/token-service.js';
import { ExternalTokenVerifier, loadSigningKey, TokenSigner, type TokenVerifier } from './auth/tokens.js';
import { systemClock, type Clock } from './core/time.js';
import type { SqlDatabase } from './metadata/sql/database.js';
import { SqlAccessStore } from './metadata/sql/sql-access-store.js';
import { openStores } from './app-stores.js';
import type { Config } from './config/config.js';

/**
 * Part of the composition root: chooses the access-control implementations for `auth`
 * (htpasswd file, access store, built-in or external token issuer). `app.ts` alone wires the
 * results into HTTP. Anything unusable throws: a broken auth configuration stops startup.
 */
export interface AccessControl {
  gate: AccessGate;
  authorizer: Authorizer;
  /** Present with `auth.accounts` (or the built-in token issuer). */
  accounts?: Accounts;
  /** Present with the built-in token issuer. */
  tokens?: { service: TokenService; passwords: Authenticator };
  /** First start with accounts: creates `admin` with a random password (file 0600 in the data directory). */
  bootstrap(): Promise<{ user: string; password: string; file: string } | undefined>;
  close(): Promise<void>;
}

export const ADMIN_PASSWORD_FILE = 'admin-password';

/** `database`: the metadata database (already migrated), where users and roles live. */
export function createAccessControl(auth: AuthConfig, database: SqlDatabase, log: Logger, clock: Clock = systemClock): AccessControl {
  const store: AccessStore | undefined = auth.accounts ? new SqlAccessStore(database, clock) : undefined;
  const sources: PasswordSource[] = [];
  const htpasswd = auth.htpasswd
    ? new HtpasswdFile(auth.htpasswd.path, {
        reloaded: (users, skipped) => {
          log.info({ path: auth.htpasswd!.path, users }, 'htpasswd file loaded');
          for (const line of skipped) log.warn({ path: auth.htpasswd!.path }, `htpasswd ${line} is ignored (registry:2 reads bcrypt entries only)`);
        },
        failed: (error) => log.warn({ path: auth.htpasswd!.path, error: (error as NodeJS.ErrnoException).code ?? error.message }, 'htpasswd file could not be re-read; keeping the last good copy'),
      }, undefined, clock)
    : undefined;
  if (htpasswd) sources.push(htpasswd);
  if (store) sources.push(new DatabasePasswords(store));
  const passwords = new PasswordVerifier(sources, auth.credentialCacheTtlMs);
  htpasswd?.onChange(() => passwords.clear());
  const throttle = new LoginThrottle(auth.throttle);
  const basic = new BasicAuthenticator(passwords, throttle, { allowInsecure: auth.allowInsecureBasic });

  let verifier: TokenVerifier | undefined;
  let signer: TokenSigner | undefined;
  if (auth.token?.trust.kind === 'builtin') {
    const { key, created } = loadSigningKey(auth.token.trust.signingKeyPath, auth.token.trust.generate);
    if (created) log.info({ path: auth.token.trust.signingKeyPath }, 'generated the token signing key (mode 0600)');
    signer = verifier = new TokenSigner(key, auth.token.issuer, auth.token.service);
  } else if (auth.token?.trust.kind === 'external') {
    verifier = new ExternalTokenVerifier({ issuer: auth.token.issuer, service: auth.token.service, ...auth.token.trust });
  }

  const links: Authenticator[] = [];
  if (verifier) links.push(new BearerAuthenticator(verifier));
  if (sources.length > 0) links.push(basic);
  if (auth.clientCertificates) links.push(new ClientCertificateAuthenticator());
  const authorizer = store ? new RoleAuthorizer(store) : new AuthenticatedFullAccess();
  const gate = new AccessGate(new AuthenticatorChain(links), authorizer, auth.challenge);
  const accounts = store && new Accounts(store, { initialPasswordFile: join(auth.dataDirectory, ADMIN_PASSWORD_FILE), changed: () => passwords.clear() });
  const tokens = signer && auth.token
    ? {
        service: new TokenService(signer, authorizer, passwords, {
          service: auth.token.service,
          lifetimeSeconds: Math.round(auth.token.lifetimeMs / 1000),
          refreshLifetimeSeconds: Math.round(auth.token.refreshLifetimeMs / 1000),
        }),
        passwords: new AuthenticatorChain([basic]),
      }
    : undefined;

  return {
    gate,
    authorizer,
    accounts,
    tokens,
    bootstrap: async () => accounts?.bootstrap(),
    close: async () => store?.close(),
  };
}

/**
 * The access store of a configured registry, for the command line (`berth user`, `berth role`):
 * the metadata store opens first so the database is migrated. The data directory is the
 * server's (`auth.dataDirectory`: beside the SQLite file).
 */
export async function openAccounts(config: Config): Promise<{ accounts: Accounts; close(): Promise<void> }> {
  const { metadata, database } = await openStores(config);
  const store = new SqlAccessStore(database);
  return {
    accounts: new Accounts(store, { initialPasswordFile: join(dirname(config.database.path), ADMIN_PASSWORD_FILE) }),
    close: () => metadata.close(),
  };
}
