import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { autoTlsPaths, defaultNames } from '../tls/auto-tls.js';
import { parse as parseYaml } from 'yaml';
import type { Config, LogLevel, PostgresConfig, S3StorageConfig, NotificationEndpoint, NotificationsConfig, RepositoryPolicy } from './config.js';
import { normaliseAuth } from './auth-config.js';
import { parseDuration } from './duration.js';
import { openAccessWarning } from './open-access.js';
import { parseSize } from './size.js';
import { normaliseRepositories } from './repositories.js';
import { IGNORED_SECTIONS, REFUSED_SECTIONS, findUnknownKeys, policySchema, rawConfigSchema, type RawConfig } from './schema.js';

/** A configuration problem that must stop startup; the message names the key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  warnings: string[];
}

const ENV_PREFIX = 'REGISTRY_';

/**
 * Reads config.yml (optional), applies `REGISTRY_*` overrides exactly as registry:2 does
 * (`REGISTRY_STORAGE_DELETE_ENABLED=true` sets `storage.delete.enabled`, the value read as
 * YAML), validates, and normalises into `Config`.
 */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const document = path === undefined ? {} : readDocument(path);
  const warnings: string[] = [];
  applyEnvironment(document, env, warnings);

  const parsed = rawConfigSchema.safeParse(document);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration${path ? ` in ${path}` : ''}:\n  ${problems.join('\n  ')}`);
  }
  for (const key of findUnknownKeys(rawConfigSchema, document)) warnings.push(`unknown configuration key "${key}" is ignored`);
  for (const [section, reason] of Object.entries(REFUSED_SECTIONS)) {
    if (document[section] !== undefined && document[section] !== null) throw new ConfigError(`${section}: ${reason}`);
  }
  for (const [section, reason] of Object.entries(IGNORED_SECTIONS)) {
    if (document[section] !== undefined) warnings.push(`configuration section "${section}" is ignored: ${reason}`);
  }
  return { config: normalise(parsed.data, warnings), warnings };
}

function readDocument(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read configuration file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`configuration file ${path} is not valid YAML: ${(error as Error).message}`);
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== 'object' || Array.isArray(document)) throw new ConfigError(`configuration file ${path} must hold a YAML mapping`);
  return document as Record<string, unknown>;
}

const STORAGE_DRIVERS = ['filesystem', 's3'];

function applyEnvironment(document: Record<string, unknown>, env: NodeJS.ProcessEnv, warnings: string[]): void {
  const overrides = Object.entries(env)
    .filter(([name, value]) => name.startsWith(ENV_PREFIX) && value !== undefined)
    .sort(([a], [b]) => a.length - b.length); // parents before children, as registry:2 applies them
  for (const [name, raw] of overrides) {
    const path = name.slice(ENV_PREFIX.length).toLowerCase().split('_');
    if (path.some((segment) => segment === '')) {
      warnings.push(`environment variable ${name} does not name a configuration key`);
      continue;
    }
    let value: unknown;
    try {
      value = parseYaml(raw!);
    } catch {
      value = raw;
    }
    if (path.length === 1 && (path[0] === 'storage' || path[0] === 'auth') && typeof value === 'string') {
      // REGISTRY_STORAGE=<driver> selects the driver, REGISTRY_AUTH=<kind> the auth kind; their
      // parameters come from REGISTRY_STORAGE_<DRIVER>_* and REGISTRY_AUTH_<KIND>_*.
      const section = ensureObject(document, path[0]);
      // As registry:2: the variable picks the driver, so another driver's section no longer applies.
      if (path[0] === 'storage') for (const driver of STORAGE_DRIVERS) if (driver !== value) delete section[driver];
      if (section[value] === undefined || section[value] === null) section[value] = {};
      continue;
    }
    setPath(document, path, value);
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) node = ensureObject(node, segment);
  node[path[path.length - 1]!] = value;
}

function ensureObject(node: Record<string, unknown>, key: string): Record<string, unknown> {
  const existing = node[key];
  if (typeof existing === 'object' && existing !== null && !Array.isArray(existing)) return existing as Record<string, unknown>;
  const created: Record<string, unknown> = {};
  node[key] = created;
  return created;
}

const DEFAULT_ROOT = './data';

function normalise(raw: RawConfig, warnings: string[]): Config {
  const storage = raw.storage ?? {};
  const rootDirectory = resolve(storage.filesystem?.rootdirectory ?? DEFAULT_ROOT);
  const purging = storage.maintenance?.uploadpurging ?? {};
  const gc = storage.maintenance?.gc ?? {};
  const health = raw.health?.storagedriver ?? {};
  const { host, port } = parseAddress(raw.http?.addr ?? ':5000');
  const tls = raw.http?.tls;
  if (tls && (tls.certificate === undefined) !== (tls.key === undefined)) {
    throw new ConfigError('http.tls: certificate and key must be set together');
  }
  if (tls?.auto && tls.certificate) throw new ConfigError('http.tls.auto: set either auto or certificate and key, not both');
  if (tls?.clientcas?.length && !tls.certificate && !tls.auto) throw new ConfigError('http.tls.clientcas: requires http.tls.certificate and key');
  if (raw.http?.prefix && raw.http.prefix !== '/') warnings.push('http.prefix is not supported yet and is ignored');
  if (storage.cache) warnings.push('storage.cache is ignored: Berth keeps its own metadata cache');

  const level = (raw.log?.level === 'panic' ? 'fatal' : raw.log?.level ?? raw.loglevel ?? 'info') as LogLevel;
  const databasePath = resolve(raw.database?.sqlite?.path ?? `${rootDirectory}/berth.sqlite`);
  const tlsAuto = tls?.auto ? { directory: join(dirname(databasePath), 'tls'), names: defaultNames(host, publicHost(raw.http?.host)) } : undefined;
  const auth = normaliseAuth(raw.auth, { dataDirectory: dirname(databasePath), host, tls: Boolean(tls?.certificate) || tlsAuto !== undefined, clientCas: Boolean(tls?.clientcas?.length) }, (message) => new ConfigError(message), warnings);
  const open = openAccessWarning({
    host,
    port,
    authenticated: auth !== undefined,
    readOnly: storage.maintenance?.readonly?.enabled ?? false,
    deleteEnabled: storage.delete?.enabled ?? false,
  });
  if (open) warnings.push(open);
  if (storage.s3 && storage.filesystem) throw new ConfigError('storage: configure one driver, filesystem or s3, not both');
  if (storage.s3 && raw.database?.enabled && auth?.token?.trust.kind === 'builtin' && auth.token.trust.generate) {
    // Each replica would generate a key of its own, and its tokens would fail on the others.
    throw new ConfigError('auth.token.signingkey: replicas (storage.s3 with database.enabled) issuing tokens need the same signing key file on every replica');
  }
  return {
    auth,
    log: { level, fields: raw.log?.fields ?? {}, accessLog: !(raw.log?.accesslog?.disabled ?? false) },
    storage: {
      driver: { kind: 'filesystem', rootDirectory },
      ...(storage.s3 ? { s3: normaliseS3(storage.s3) } : {}),
      redirect: { disabled: storage.redirect?.disable ?? false },
      deleteEnabled: storage.delete?.enabled ?? false,
      readOnly: storage.maintenance?.readonly?.enabled ?? false,
      uploadPurging: {
        enabled: purging.enabled ?? true,
        ageMs: durationOr(purging.age, 168 * 3_600_000),
        intervalMs: durationOr(purging.interval, 24 * 3_600_000),
        dryRun: purging.dryrun ?? false,
      },
      gc: {
        enabled: gc.enabled ?? false,
        intervalMs: durationOr(gc.interval, 24 * 3_600_000),
        graceMs: durationOr(gc.grace, 3_600_000),
        deleteUntagged: gc.deleteuntagged ?? false,
        dryRun: gc.dryrun ?? false,
      },
    },
    policies: (raw.policies ?? []).map(normalisePolicy),
    repositories: normaliseRepositories(raw.repositories, raw.proxy, (message) => new ConfigError(message), warnings, (addr, key) => parseAddress(addr, key)),
    database: normaliseDatabase(raw.database, databasePath),
    http: {
      host,
      port,
      headers: normaliseHeaders(raw.http?.headers ?? {}),
      tls: tls?.certificate && tls.key
        ? { certificate: tls.certificate, key: tls.key, clientCas: tls.clientcas ?? [], minimumVersion: tls.minimumtls === 'tls1.3' ? 'TLSv1.3' : 'TLSv1.2' }
        : tlsAuto
          ? { certificate: autoTlsPaths(tlsAuto.directory).certificate, key: autoTlsPaths(tlsAuto.directory).key, clientCas: tls?.clientcas ?? [], minimumVersion: tls?.minimumtls === 'tls1.3' ? 'TLSv1.3' : 'TLSv1.2' }
          : undefined,
      ...(tlsAuto ? { tlsAuto } : {}),
      drainTimeoutMs: durationOr(raw.http?.draintimeout, 10_000),
      timeouts: {
        headersMs: durationOr(raw.http?.timeouts?.headers, 30_000),
        idleMs: durationOr(raw.http?.timeouts?.idle, 60_000),
        keepAliveMs: durationOr(raw.http?.timeouts?.keepalive, 75_000),
      },
      maxConnectionsPerClient: raw.http?.maxconnectionsperclient ?? 512,
      debug: normaliseDebug(raw.http?.debug),
    },
    notifications: normaliseNotifications(raw.notifications),
    audit: { retentionMs: durationOr(raw.audit?.retention, 90 * 24 * 3_600_000) },
    health: {
      storageDriver: {
        enabled: health.enabled ?? false,
        intervalMs: durationOr(health.interval, 10_000),
        threshold: health.threshold ?? 3,
      },
    },
  };
}

const MIB = 1024 * 1024;

/** registry:2's defaults: 10 MiB parts, multipart copies above 32 MiB, https unless `secure: false`. */
function normaliseS3(raw: NonNullable<NonNullable<RawConfig['storage']>['s3']>): S3StorageConfig {
  const endpoint = raw.regionendpoint === undefined ? undefined : /^https?:\/\//.test(raw.regionendpoint) ? raw.regionendpoint : `${raw.secure === false ? 'http' : 'https'}://${raw.regionendpoint}`;
  return {
    kind: 's3',
    region: raw.region,
    ...(endpoint !== undefined ? { endpoint } : {}),
    bucket: raw.bucket,
    ...(raw.accesskey !== undefined && raw.secretkey !== undefined ? { credentials: { accessKeyId: raw.accesskey, secretAccessKey: raw.secretkey } } : {}),
    forcePathStyle: raw.forcepathstyle ?? endpoint !== undefined,
    rootDirectory: (raw.rootdirectory ?? '').replace(/^\/+|\/+$/g, ''),
    chunkSize: raw.chunksize === undefined ? 10 * MIB : parseSize(raw.chunksize)!,
    multipartCopyThresholdSize: raw.multipartcopythresholdsize === undefined ? 32 * MIB : parseSize(raw.multipartcopythresholdsize)!,
    encrypt: raw.encrypt ?? false,
    skipVerify: raw.skipverify ?? false,
  };
}

/** One `policies:` entry in the configuration's shape (what the web UI stores), checked by the same schema. */
export function parsePolicy(raw: unknown): RepositoryPolicy {
  const parsed = policySchema.strict().safeParse(raw);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'policy'}: ${issue.message}`).join('; '));
  return normalisePolicy(parsed.data);
}

function normalisePolicy(raw: NonNullable<RawConfig['policies']>[number]): RepositoryPolicy {
  const policy: RepositoryPolicy = { match: raw.match, deployment: raw.deployment ?? 'allow-redeploy' };
  if (raw.quota) policy.quota = { limitBytes: parseSize(raw.quota.limit)!, scope: raw.quota.scope ?? 'repository' };
  if (raw.retention) {
    const rule = raw.retention;
    policy.retention = {
      keep: rule.keep,
      olderThanMs: rule.olderthan === undefined ? undefined : parseDuration(rule.olderthan),
      notPulledForMs: rule.notpulledfor === undefined ? undefined : parseDuration(rule.notpulledfor),
      include: rule.include === undefined ? undefined : new RegExp(rule.include),
      exclude: rule.exclude === undefined ? undefined : new RegExp(rule.exclude),
    };
  }
  return policy;
}

function normaliseDebug(raw: NonNullable<RawConfig['http']>['debug']): Config['http']['debug'] {
  if (!raw?.addr) {
    if (raw?.prometheus?.enabled) throw new ConfigError('http.debug.prometheus: requires http.debug.addr (metrics are served on the debug listener)');
    return undefined;
  }
  const { host, port } = parseAddress(raw.addr);
  return raw.prometheus?.enabled ? { host, port, prometheus: { path: raw.prometheus.path ?? '/metrics' } } : { host, port };
}

function normaliseNotifications(raw: RawConfig['notifications']): NotificationsConfig {
  const names = new Set<string>();
  const endpoints: NotificationEndpoint[] = [];
  for (const endpoint of raw?.endpoints ?? []) {
    if (names.has(endpoint.name)) throw new ConfigError(`notifications.endpoints: the name "${endpoint.name}" is used twice (it keys the endpoint's delivery state)`);
    names.add(endpoint.name);
    if (endpoint.disabled) continue;
    endpoints.push({
      name: endpoint.name,
      url: endpoint.url,
      headers: normaliseHeaders(endpoint.headers ?? {}),
      timeoutMs: durationOr(endpoint.timeout, 1_000),
      threshold: endpoint.threshold ?? 10,
      backoffMs: durationOr(endpoint.backoff, 1_000),
      ignoredMediaTypes: [...(endpoint.ignoredmediatypes ?? []), ...(endpoint.ignore?.mediatypes ?? [])],
      ignoredActions: endpoint.ignore?.actions ?? [],
      secret: endpoint.secret,
      format: endpoint.format ?? 'distribution',
    });
  }
  return { includePulls: raw?.events?.includepulls ?? false, endpoints };
}

/** registry:2's `http.host` is the registry's external URL; its host name goes into the certificate. */
function publicHost(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '') || undefined;
  } catch {
    return undefined;
  }
}

function durationOr(value: string | number | undefined, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value)!;
}

/** `:5000`, `0.0.0.0:5000`, `localhost:5000`, `[::1]:5000`. An empty host means every interface. */
export function parseAddress(addr: string, key = 'http.addr'): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new ConfigError(`${key}: expected [host]:port such as ":5000" or "127.0.0.1:5000", got "${addr}"`);
  }
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function normaliseHeaders(headers: Record<string, string | string[]>): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new ConfigError(`http.headers: "${name}" is not a valid header name`);
    result[name.toLowerCase()] = Array.isArray(values) ? values : [values];
  }
  return result;
}

/** SQLite unless `database.enabled`; then PostgreSQL with GitLab's registry's defaults. */
function normaliseDatabase(raw: RawConfig['database'], path: string): Config['database'] {
  if (!raw?.enabled) return { kind: 'sqlite', path };
  if (raw.sslkey !== undefined && raw.sslcert === undefined) throw new ConfigError('database.sslkey: requires database.sslcert');
  const postgres: PostgresConfig = {
    host: raw.host ?? 'localhost',
    port: raw.port ?? 5432,
    user: raw.user ?? 'postgres',
    dbname: raw.dbname ?? 'registry',
    sslmode: raw.sslmode ?? 'prefer',
    connectTimeoutMs: durationOr(raw.connecttimeout, 0),
    pool: {
      maxOpen: raw.pool?.maxopen ?? 10,
      ...(raw.pool?.maxidle !== undefined && { maxIdle: raw.pool.maxidle }),
      maxLifetimeMs: durationOr(raw.pool?.maxlifetime, 0),
      maxIdleTimeMs: durationOr(raw.pool?.maxidletime, 10_000),
    },
    ...(raw.password !== undefined && { password: raw.password }),
    ...(raw.sslcert !== undefined && { sslcert: raw.sslcert }),
    ...(raw.sslkey !== undefined && { sslkey: raw.sslkey }),
    ...(raw.sslrootcert !== undefined && { sslrootcert: raw.sslrootcert }),
  };
  return { kind: 'postgres', path, postgres };
}
