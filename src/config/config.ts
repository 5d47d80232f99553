/** The typed configuration every other module receives (never the raw YAML). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface FilesystemStorageConfig {
  kind: 'filesystem';
  rootDirectory: string;
}

export interface TlsConfig {
  certificate: string;
  key: string;
  clientCas: string[];
  minimumVersion: 'TLSv1.2' | 'TLSv1.3';
}

export interface Config {
  log: { level: LogLevel; fields: Record<string, unknown>; accessLog: boolean };
  storage: {
    driver: FilesystemStorageConfig;
    deleteEnabled: boolean;
    readOnly: boolean;
    uploadPurging: { enabled: boolean; ageMs: number; intervalMs: number; dryRun: boolean };
    /** Online garbage collection; `graceMs` protects fresh uploads and untagged manifests. */
    gc: { enabled: boolean; intervalMs: number; graceMs: number; deleteUntagged: boolean; dryRun: boolean };
  };
  database: { kind: 'sqlite'; path: string };
  http: {
    host: string;
    port: number;
    /** Lower-cased header name → values, added to every response. */
    headers: Record<string, string[]>;
    tls?: TlsConfig;
    drainTimeoutMs: number;
  };
  health: { storageDriver: { enabled: boolean; intervalMs: number; threshold: number } };
}
