import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { PostgresConfig } from '../../config/config.js';
import type { PostgresSettings } from './postgres-database.js';

/**
 * `database.*` (GitLab's registry's keys) as a `pg` pool takes them, and a description for logs
 * that leaves the password out. `sslmode` as libpq reads it, except that `pg` cannot fall back:
 * `allow` and `prefer` connect without TLS; `require` encrypts without checking the server;
 * `verify-ca` checks its certificate against `sslrootcert`; `verify-full` checks the host name too.
 */
export function postgresSettings(config: PostgresConfig): { settings: PostgresSettings; description: string } {
  const settings: PostgresSettings = {
    host: config.host,
    port: config.port,
    user: config.user,
    database: config.dbname,
    max: config.pool.maxOpen,
    // pg keeps no count of idle connections: `maxidle: 0` closes each as soon as it is idle.
    idleTimeoutMillis: config.pool.maxIdle === 0 ? 1 : config.pool.maxIdleTimeMs,
    maxLifetimeSeconds: Math.ceil(config.pool.maxLifetimeMs / 1000),
    connectionTimeoutMillis: config.connectTimeoutMs,
    ...(config.password !== undefined && { password: config.password }),
  };
  const tls = tlsOptions(config);
  if (tls) settings.ssl = tls;
  return { settings, description: describePostgres(config) };
}

/** `postgresql user@host:port/dbname`: where, for logs; never the password. */
export function describePostgres(config: PostgresConfig): string {
  return `postgresql ${config.user}@${config.host}:${config.port}/${config.dbname}`;
}

function tlsOptions(config: PostgresConfig): ConnectionOptions | undefined {
  if (config.sslmode === 'disable' || config.sslmode === 'allow' || config.sslmode === 'prefer') return undefined;
  const options: ConnectionOptions = { rejectUnauthorized: config.sslmode !== 'require' };
  if (config.sslrootcert) options.ca = readFileSync(config.sslrootcert);
  if (config.sslcert) options.cert = readFileSync(config.sslcert);
  if (config.sslkey) options.key = readFileSync(config.sslkey);
  if (config.sslmode === 'verify-ca') options.checkServerIdentity = () => undefined;
  return options;
}
