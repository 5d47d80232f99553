import type { RepositoriesConfig } from './repositories.js';

/** The typed configuration every other module receives (never the raw YAML). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface FilesystemStorageConfig {
  kind: 'filesystem';
  rootDirectory: string;
}

/** `storage.s3`, registry:2's keys normalised (sizes in bytes, the endpoint with its scheme). */
export interface S3StorageConfig {
  kind: 's3';
  region: string;
  /** An S3-compatible endpoint URL (`regionendpoint`); absent: AWS's endpoint for the region. */
  endpoint?: string;
  bucket: string;
  /** Both or neither; neither: the SDK's default credential chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  forcePathStyle: boolean;
  /** Key prefix inside the bucket, without leading or trailing `/` ('' for the bucket's root). */
  rootDirectory: string;
  /** Size of each multipart upload part (≥ 5 MiB). */
  chunkSize: number;
  /** Copies larger than this use multipart UploadPartCopy. */
  multipartCopyThresholdSize: number;
  /** Server-side encryption (SSE-S3, AES256) of every object written. */
  encrypt: boolean;
  /** Accept any TLS certificate from the endpoint. */
  skipVerify: boolean;
}

export interface TlsConfig {
  certificate: string;
  key: string;
  clientCas: string[];
  minimumVersion: 'TLSv1.2' | 'TLSv1.3';
}

export type DeploymentPolicy = 'allow-redeploy' | 'disable-redeploy' | 'read-only';

export interface RetentionRule {
  /** Keep the newest N tags (by push time) whatever else applies. */
  keep?: number;
  olderThanMs?: number;
  notPulledForMs?: number;
  /** Only tags matching `include` and not matching `exclude` are candidates. */
  include?: RegExp;
  exclude?: RegExp;
}

export interface RepositoryPolicy {
  /** Repository name pattern (`team-a/*`, `*`); the first matching policy applies. */
  match: string;
  deployment: DeploymentPolicy;
  /** `repository`: each matching repository alone; `pattern`: all matching repositories together. */
  quota?: { limitBytes: number; scope: 'repository' | 'pattern' };
  retention?: RetentionRule;
}

export interface Config {
  log: { level: LogLevel; fields: Record<string, unknown>; accessLog: boolean };
  storage: {
    driver: FilesystemStorageConfig;
    /** `storage.s3`, when configured; the composition root picks it over the filesystem. */
    s3?: S3StorageConfig;
    /** `storage.redirect.disable`: blob GETs never redirect to a presigned URL. */
    redirect: { disabled: boolean };
    deleteEnabled: boolean;
    readOnly: boolean;
    uploadPurging: { enabled: boolean; ageMs: number; intervalMs: number; dryRun: boolean };
    /** Online garbage collection; `graceMs` protects fresh uploads and untagged manifests. */
    gc: { enabled: boolean; intervalMs: number; graceMs: number; deleteUntagged: boolean; dryRun: boolean };
  };
  policies: RepositoryPolicy[];
  /** Hosted, proxy and group repositories; empty items and no mirror: one hosted space, as today. */
  repositories: RepositoriesConfig;
  /** `path`: the SQLite file, whose directory is the data directory (keys, TLS, the admin password) either way. */
  database: { kind: 'sqlite'; path: string } | { kind: 'postgres'; path: string; postgres: PostgresConfig };
  http: {
    host: string;
    port: number;
    /** Lower-cased header name → values, added to every response. */
    headers: Record<string, string[]>;
    tls?: TlsConfig;
    drainTimeoutMs: number;
    timeouts: { headersMs: number; idleMs: number; keepAliveMs: number };
    maxConnectionsPerClient: number;
    /** `http.tls.auto`: where the private CA and server certificate live, and the names it covers. */
    tlsAuto?: { directory: string; names: string[] };
    /** registry:2's debug listener (`http.debug.addr`): health, probes and, when enabled, metrics. */
    debug?: { host: string; port: number; prometheus?: { path: string } };
  };
  notifications: NotificationsConfig;
  audit: { retentionMs: number };
  health: { storageDriver: { enabled: boolean; intervalMs: number; threshold: number } };
  /** Access control; absent means an open registry (as registry:2 without `auth`). */
  auth?: AuthConfig;
}

export interface AuthConfig {
  /** How clients are asked for credentials: Basic (htpasswd, accounts) or Bearer (token). */
  challenge: { scheme: 'basic'; realm: string } | { scheme: 'bearer'; realm?: string; service: string };
  /** registry:2's htpasswd file (bcrypt entries); its users may do everything. */
  htpasswd?: { path: string };
  /** Users, roles and permissions in the metadata database (Berth). */
  accounts: boolean;
  token?: {
    service: string;
    issuer: string;
    lifetimeMs: number;
    refreshLifetimeMs: number;
    /** Berth issues tokens itself, or trusts an external issuer's keys. */
    trust: { kind: 'builtin'; signingKeyPath: string; generate: boolean } | { kind: 'external'; rootCertBundle?: string; jwks?: string };
  };
  throttle: { maxFailures: number; userMaxFailures: number; windowMs: number };
  credentialCacheTtlMs: number;
  allowInsecureBasic: boolean;
  clientCertificates: boolean;
  /** Where generated secrets live (admin password file, token signing key). */
  dataDirectory: string;
}

/** registry:2's `notifications` section, normalised. */
export interface NotificationsConfig {
  includePulls: boolean;
  endpoints: NotificationEndpoint[];
}

export type NotificationAction = 'push' | 'pull' | 'mount' | 'delete';

export interface NotificationEndpoint {
  name: string;
  url: string;
  headers: Record<string, string[]>;
  timeoutMs: number;
  /** Consecutive failures before retries back off (doubling from `backoffMs`). */
  threshold: number;
  backoffMs: number;
  ignoredMediaTypes: string[];
  ignoredActions: NotificationAction[];
  secret?: string;
  format: 'distribution' | 'cloudevents';
}

/** PostgreSQL, as GitLab's container registry configures it (`database.*`). */
export interface PostgresConfig {
  host: string;
  port: number;
  user: string;
  /** Never logged. */
  password?: string;
  dbname: string;
  sslmode: 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
  sslcert?: string;
  sslkey?: string;
  sslrootcert?: string;
  connectTimeoutMs: number;
  pool: { maxOpen: number; maxIdle?: number; maxLifetimeMs: number; maxIdleTimeMs: number };
}
