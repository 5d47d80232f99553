import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import pino, { type Logger } from 'pino';
import type { Config } from './config/config.js';
import { GarbageCollector } from './core/garbage-collector.js';
import { HealthMonitor } from './core/health.js';
import { importAtStart, type BackgroundImport } from './core/import/import-at-start.js';
import { Registry2Import } from './core/import/registry2-import.js';
import { startMaintenance } from './core/maintenance.js';
import { PolicyBook } from './core/repository-policies.js';
import { Registry } from './core/registry.js';
import { systemClock, timerScheduler, type Clock, type Scheduler } from './core/time.js';
import { createAccessControl, requireAdministrator, type AccessControl } from './app-auth.js';
import { RoleAuthorizer } from './auth/authorizer.js';
import type { Endpoint } from './http/access.js';
import { adminApi } from './http/admin-api.js';
import { maintenanceApi } from './http/maintenance-api.js';
import { createControlServer, listenOnSocket } from './http/control-api.js';
import { createRequestHandler, RequestStats } from './http/handler.js';
import { tokenEndpoint } from './http/token-endpoint.js';
import { createServer } from './http/server.js';
import type { MetadataStore } from './metadata/store.js';
import { SqliteMetadataStore } from './metadata/sqlite/sqlite-store.js';
import { BlobStore } from './storage/blob-store.js';
import { DataDirectoryLock, controlSocketPath } from './storage/data-directory-lock.js';
import type { StorageDriver } from './storage/driver.js';
import { FilesystemDriver } from './storage/filesystem-driver.js';
import { Registry2Tree } from './storage/registry2-tree.js';

/**
 * The composition root: the only module that chooses implementations (filesystem or S3,
 * SQLite or PostgreSQL) and the only one that imports `http/`.
 */
export interface App {
  readonly config: Config;
  readonly log: Logger;
  readonly registry: Registry;
  readonly collector: GarbageCollector;
  readonly server: Server;
  /** `initialAdmin` is set once, on the first start with accounts: print it, never log it. */
  listen(): Promise<{ url: string; host: string; port: number; initialAdmin?: { user: string; password: string; file: string }; repositories?: Record<string, string> }>;
  /** Settles when the registry:2 import started by `listen` has finished, failed or was not needed. */
  importSettled(): Promise<void>;
  close(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.log.level,
    base: { service: 'berth', ...config.log.fields },
    // Defence in depth: no code logs a secret, and these keys are censored if one ever does.
    redact: {
      paths: [
        'authorization', 'password', 'secret', 'token', 'access_token', 'refresh_token',
        '*.authorization', '*.password', '*.secret', '*.token', '*.access_token', '*.refresh_token',
        'headers.authorization', '*.headers.authorization', 'headers.cookie', '*.headers.cookie',
      ],
      censor: '[redacted]',
    },
  });
}

/** Storage and metadata, without the HTTP server: what offline commands (garbage-collect) need. */
export function openStores(config: Config, clock: Clock = systemClock): { driver: StorageDriver; metadata: MetadataStore; blobs: BlobStore } {
  const driver: StorageDriver = new FilesystemDriver(config.storage.driver.rootDirectory);
  const metadata: MetadataStore = new SqliteMetadataStore(config.database.path, clock);
  return { driver, metadata, blobs: new BlobStore(driver) };
}

/** How the app tells time and runs background work; tests inject their own to drive both. */
export interface TimeSeams {
  clock?: Clock;
  scheduler?: Scheduler;
}

export function createApp(config: Config, log: Logger = createLogger(config), time: TimeSeams = {}): App {
  const clock = time.clock ?? systemClock;
  const scheduler = time.scheduler ?? timerScheduler;
  // Before anything is opened: a second server on the same data directory stops here.
  const directoryLock = DataDirectoryLock.acquire(config.storage.driver.rootDirectory);
  let stores: ReturnType<typeof openStores>;
  try {
    stores = openStores(config, clock);
  } catch (error) {
    directoryLock.release();
    throw error;
  }
  const { driver, metadata, blobs } = stores;
  const instanceId = randomUUID();
  const registry = new Registry(metadata, blobs, {
    deleteEnabled: config.storage.deleteEnabled,
    readOnly: config.storage.readOnly,
  }, new PolicyBook(config.policies), clock, config.repositories);
  const collector = new GarbageCollector(metadata, blobs, registry.locks, registry.touches, instanceId, log, clock);
  const health = new HealthMonitor(driver, metadata, config.health.storageDriver, scheduler);
  const access = config.auth ? createAccessControl(config.auth, config.database.path, log, clock) : undefined;
  const stats = new RequestStats();
  const handlerOptions = {
    registry, health, log, stats, headers: config.http.headers, accessLog: config.log.accessLog,
    access: access?.gate,
    endpoints: [
      maintenanceApi(registry, collector, config.storage.gc.graceMs, access && ((req) => requireAdministrator(access, req))),
      ...(access ? accessEndpoints(access) : []),
    ],
  };
  const handler = createRequestHandler(handlerOptions);
  const serverOptions = {
    tls: config.http.tls,
    timeouts: config.http.timeouts,
    maxConnectionsPerClient: config.http.maxConnectionsPerClient,
    onRefused: (remoteAddress: string) => {
      stats.refusedConnections += 1;
      log.debug({ remote: remoteAddress }, 'connection refused: too many connections from this client');
    },
  };
  const http = createServer(handler, serverOptions);
  // Repositories with an `addr` of their own are served at that listener's root, with the same auth, TLS and limits.
  const repositoryListeners = config.repositories.items.flatMap((item) => item.listen
    ? [{ name: item.name, listen: item.listen, http: createServer(createRequestHandler({ ...handlerOptions, root: item.name }), serverOptions) }]
    : []);
  const importer = new Registry2Import({ metadata, blobs, tree: new Registry2Tree(driver), locks: registry.locks });
  let stopMaintenance: (() => Promise<void>) | undefined;
  let registry2Import: BackgroundImport | undefined;
  const control = createControlServer({
    registry, collector, importer, log,
    importAtStart: async () => registry2Import?.finished,
    defaultGraceMs: config.storage.gc.graceMs,
  });
  const controlPath = controlSocketPath(config.storage.driver.rootDirectory);

  return {
    config,
    log,
    registry,
    collector,
    server: http.server,
    async listen() {
      const initialAdmin = await access?.bootstrap();
      const address = await http.listen(config.http.host, config.http.port);
      const repositoryUrls: Record<string, string> = {};
      for (const listener of repositoryListeners) {
        const bound = await listener.http.listen(listener.listen.host, listener.listen.port);
        repositoryUrls[listener.name] = urlOf(config.http.tls !== undefined, bound);
        log.info({ repository: listener.name, url: repositoryUrls[listener.name] }, 'repository listening');
      }
      health.start();
      stopMaintenance = startMaintenance({ config: config.storage, registry, collector, instanceId, log, clock, scheduler });
      registry2Import = importAtStart(importer, log);
      await listenOnSocket(control, controlPath);
      return {
        ...address,
        url: urlOf(config.http.tls !== undefined, address),
        ...(initialAdmin ? { initialAdmin } : {}),
        ...(repositoryListeners.length > 0 ? { repositories: repositoryUrls } : {}),
      };
    },
    async importSettled() {
      await registry2Import?.finished;
    },
    async close() {
      health.stop();
      await registry2Import?.stop();
      await stopMaintenance?.();
      control.close();
      control.closeAllConnections();
      await Promise.all([http, ...repositoryListeners.map((listener) => listener.http)].map((server) => server.close(config.http.drainTimeoutMs)));
      await access?.close();
      await metadata.close();
      directoryLock.release();
    },
  };
}

function urlOf(tls: boolean, address: { host: string; port: number }): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${tls ? 'https' : 'http'}://${host}:${address.port}`;
}

/** The token service and admin API, when the access configuration has them. */
function accessEndpoints(access: AccessControl): Endpoint[] {
  const endpoints: Endpoint[] = [];
  if (access.tokens) endpoints.push(tokenEndpoint(access.tokens.service, access.tokens.passwords, 'berth token service'));
  if (access.accounts && access.authorizer instanceof RoleAuthorizer) endpoints.push(adminApi(access.gate, access.authorizer, access.accounts));
  return endpoints;
}
