import type { Server } from 'node:http';
import pino, { type Logger } from 'pino';
import type { Config } from './config/config.js';
import { HealthMonitor } from './core/health.js';
import { Registry } from './core/registry.js';
import { createRequestHandler } from './http/handler.js';
import { createServer, listen } from './http/server.js';
import type { MetadataStore } from './metadata/store.js';
import { SqliteMetadataStore } from './metadata/sqlite/sqlite-store.js';
import { BlobStore } from './storage/blob-store.js';
import type { StorageDriver } from './storage/driver.js';
import { FilesystemDriver } from './storage/filesystem-driver.js';

/**
 * The composition root: the only module that chooses implementations (filesystem or S3,
 * SQLite or PostgreSQL) and the only one that imports `http/`.
 */
export interface App {
  readonly config: Config;
  readonly log: Logger;
  readonly registry: Registry;
  readonly server: Server;
  listen(): Promise<{ url: string; host: string; port: number }>;
  close(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.log.level,
    base: { service: 'berth', ...config.log.fields },
    redact: { paths: ['*.authorization', '*.password', '*.secret', '*.token', 'headers.authorization'], censor: '[redacted]' },
  });
}

export function createApp(config: Config, log: Logger = createLogger(config)): App {
  const driver: StorageDriver = new FilesystemDriver(config.storage.driver.rootDirectory);
  const metadata: MetadataStore = new SqliteMetadataStore(config.database.path);
  const registry = new Registry(metadata, new BlobStore(driver), {
    deleteEnabled: config.storage.deleteEnabled,
    readOnly: config.storage.readOnly,
  });
  const health = new HealthMonitor(driver, metadata, config.health.storageDriver);
  const handler = createRequestHandler({ registry, health, log, headers: config.http.headers, accessLog: config.log.accessLog });
  const server = createServer(handler, config.http.tls);
  let purgeTimer: NodeJS.Timeout | undefined;

  async function purgeUploads(): Promise<void> {
    const { ageMs, dryRun } = config.storage.uploadPurging;
    try {
      const purged = await registry.uploads.purge(Date.now() - ageMs, dryRun);
      if (purged.length > 0) log.info({ count: purged.length, dryRun }, dryRun ? 'stale uploads found (dry run)' : 'stale uploads purged');
    } catch (error) {
      log.error({ err: error }, 'upload purge failed');
    }
  }

  return {
    config,
    log,
    registry,
    server,
    async listen() {
      const address = await listen(server, config.http.host, config.http.port);
      health.start();
      if (config.storage.uploadPurging.enabled && !config.storage.readOnly) {
        void purgeUploads();
        purgeTimer = setInterval(() => void purgeUploads(), config.storage.uploadPurging.intervalMs);
        purgeTimer.unref();
      }
      const scheme = config.http.tls ? 'https' : 'http';
      const host = address.host.includes(':') ? `[${address.host}]` : address.host;
      return { ...address, url: `${scheme}://${host}:${address.port}` };
    },
    async close() {
      health.stop();
      if (purgeTimer) clearInterval(purgeTimer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), config.http.drainTimeoutMs).unref();
      });
      await metadata.close();
    },
  };
}
