import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import pino, { type Logger } from 'pino';
import type { Config } from './config/config.js';
import { GarbageCollector } from './core/garbage-collector.js';
import { HealthMonitor } from './core/health.js';
import { importAtStart, type BackgroundImport } from './core/import/import-at-start.js';
import { Registry2Import } from './core/import/registry2-import.js';
import { startMaintenance } from './core/maintenance.js';
import { PolicyBook } from './core/repository-policies.js';
import { PolicyAdministration } from './core/policy-admin.js';
import { NamespaceTree } from './core/namespaces.js';
import { Registry } from './core/registry.js';
import { RepositorySearch } from './core/search.js';
import { RepositoryBrowser } from './core/browse.js';
import { CollectionRuns } from './core/collection-runs.js';
import { ImageInspector } from './core/image-details.js';
import { systemClock, timerScheduler, type Clock, type Scheduler } from './core/time.js';
import { createAccessControl, type AccessControl } from './app-auth.js';
import { createAudit, createMetrics, createNotifications, createOperations, reloadConfiguration, type ReloadResult } from './app-operations.js';
import type { AuditTrail } from './core/audit.js';
import { audited, auditedAuthenticator, describeAdminChange } from './http/audit-hooks.js';
import { SqlWebSessionStore } from './metadata/sql/sql-web-sessions.js';
import { tlsSetupEndpoint } from './http/tls-setup-endpoint.js';
import { autoTlsPaths, ensureAutoTls } from './tls/auto-tls.js';
import type { Endpoint } from './http/access.js';
import { AdminAccess } from './http/admin-access.js';
import { adminApi } from './http/admin-api.js';
import { createControlServer, listenOnSocket } from './http/control-api.js';
import { createRequestHandler, RequestStats } from './http/handler.js';
import { presignedBlobRedirects } from './core/blob-redirects.js';
import { searchApi } from './http/search-api.js';
import { tokenEndpoint } from './http/token-endpoint.js';
import { webUi } from './http/ui/ui.js';
import { createServer } from './http/server.js';
import type { MetadataStore } from './metadata/store.js';
import { BlobStore } from './storage/blob-store.js';
import { openStores, sharedByReplicas, type Stores } from './app-stores.js';
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
  /** Collections started from the web UI, running in the background. */
  readonly collections: CollectionRuns;
  readonly server: Server;
  /** `initialAdmin` is set once, on the first start with accounts: print it, never log it. */
  listen(): Promise<{ url: string; host: string; port: number; initialAdmin?: { user: string; password: string; file: string }; debugUrl?: string; tlsAuto?: { caPath: string; caFingerprint: string }; repositories?: Record<string, string> }>;
  /** Settles when the registry:2 import started by `listen` has finished, failed or was not needed. */
  importSettled(): Promise<void>;
  /** Applies a re-read configuration (SIGHUP) where it can without a restart. */
  reload(next: Config): Promise<ReloadResult>;
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
        'secretkey', '*.secretkey', 'secretAccessKey', '*.secretAccessKey', '*.*.secretAccessKey',
      ],
      censor: '[redacted]',
    },
  });
}

/** How the app tells time and runs background work; tests inject their own to drive both. */
export interface TimeSeams {
  clock?: Clock;
  scheduler?: Scheduler;
}

export async function createApp(config: Config, log: Logger = createLogger(config), time: TimeSeams = {}): Promise<App> {
  const clock = time.clock ?? systemClock;
  const scheduler = time.scheduler ?? timerScheduler;
  // Before anything is opened: a second server on the same data directory stops here.
  // Replicas share storage and database and own no data directory.
  const directoryLock = sharedByReplicas(config) ? undefined : DataDirectoryLock.acquire(config.storage.driver.rootDirectory);
  let stores: Stores;
  try {
    stores = await openStores(config, clock);
  } catch (error) {
    directoryLock?.release();
    throw error;
  }
  const { metadata } = stores;
  // With metrics on, storage actions are timed: every user of the driver gets the timed one.
  const { metrics, driver, uploads } = createMetrics(config, stores);
  const blobs = driver === stores.driver ? stores.blobs : new BlobStore(driver, metadata);
  const instanceId = randomUUID();
  const notifications = createNotifications(config, { metadata, instanceId, clock, scheduler, log, replicated: stores.replicated });
  const registry = new Registry({ ...stores, blobs, uploads }, {
    deleteEnabled: config.storage.deleteEnabled,
    readOnly: config.storage.readOnly,
  }, new PolicyBook(config.policies), clock, notifications.recorder, config.repositories);
  // Replicas cannot tell an unclean stop of another: every collection sweeps for orphaned bytes.
  const collector = new GarbageCollector(metadata, blobs, registry.locks, registry.touches, instanceId, log, clock, directoryLock?.orphanSweep);
  const health = new HealthMonitor(driver, metadata, config.health.storageDriver, scheduler);
  const access = config.auth ? createAccessControl(config.auth, stores.database, log, clock) : undefined;
  const stats = new RequestStats();
  // http.tls.auto: the certificate files exist before the HTTPS server reads them.
  const autoTls = config.http.tlsAuto && { ...ensureAutoTls(config.http.tlsAuto), caPath: autoTlsPaths(config.http.tlsAuto.directory).ca };
  const adminAccess = new AdminAccess(access?.gate);
  const browser = new RepositoryBrowser(metadata);
  const collections = new CollectionRuns(collector, log);
  const audit = createAudit(config, { metadata, registry, collector, clock, log });
  const policyAdministration = new PolicyAdministration(metadata, registry.policies, audit);
  const operations = createOperations(config, { registry, collector, health, stats, audit, outbox: notifications.outbox, access: adminAccess, metrics });
  const handlerOptions = {
    registry, health, log, stats, metrics: operations.metrics, audit, headers: config.http.headers, accessLog: config.log.accessLog,
    access: access?.gate,
    blobRedirects: presignedBlobRedirects(blobs.driver, config.storage.redirect, clock),
    endpoints: [
      ...operations.endpoints,
      ...(autoTls ? [tlsSetupEndpoint(autoTls.caPath)] : []),
      searchApi(new RepositorySearch(metadata), access?.gate),
      audited(
        adminApi({
          access: adminAccess, registry, collector, browser,
          graceMs: config.storage.gc.graceMs, ...(access?.accounts ? { accounts: access.accounts } : {}),
        }),
        audit,
        describeAdminChange,
      ),
      webUi({
        access: adminAccess, registry, collections, browser, inspector: new ImageInspector(metadata, blobs), now: clock,
        tree: new NamespaceTree(metadata), policies: policyAdministration, audit, repositories: config.repositories,
        graceMs: config.storage.gc.graceMs, sessionIndex: new SqlWebSessionStore(stores.database), ...(access ? { gate: auditedAuthenticator(access.gate, audit, '/ui/login', true) } : {}), ...(access?.accounts ? { accounts: access.accounts } : {}),
      }),
      ...(access ? accessEndpoints(access, audit) : []),
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
  // Maintenance commands beside a running server reach it here; replicas have no data directory to share it in.
  const controlPath = directoryLock && controlSocketPath(config.storage.driver.rootDirectory);
  let current = config;
  let stopTlsRenewal: (() => void) | undefined;

  return {
    config,
    log,
    registry,
    collector,
    collections,
    server: http.server,
    async listen() {
      const initialAdmin = await access?.bootstrap();
      // Policies administered in the web UI apply from the first request on.
      await policyAdministration.load();
      policyAdministration.start(scheduler);
      const address = await http.listen(config.http.host, config.http.port);
      const debugAddress = config.http.debug && (await operations.debug?.listen(config.http.debug.host, config.http.debug.port));
      const repositoryUrls: Record<string, string> = {};
      for (const listener of repositoryListeners) {
        const bound = await listener.http.listen(listener.listen.host, listener.listen.port);
        repositoryUrls[listener.name] = urlOf(config.http.tls !== undefined, bound);
        log.info({ repository: listener.name, url: repositoryUrls[listener.name] }, 'repository listening');
      }
      health.start();
      await notifications.outbox.start();
      audit.start(scheduler);
      if (config.http.tlsAuto) stopTlsRenewal = renewAutoTls(config.http.tlsAuto, [http.server, ...repositoryListeners.map((listener) => listener.http.server)], scheduler, log);
      stopMaintenance = startMaintenance({ config: config.storage, registry, collector, instanceId, log, clock, scheduler });
      registry2Import = importAtStart(importer, log);
      if (controlPath) await listenOnSocket(control, controlPath);
      return {
        ...address,
        url: urlOf(config.http.tls !== undefined, address),
        ...(initialAdmin ? { initialAdmin } : {}),
        ...(repositoryListeners.length > 0 ? { repositories: repositoryUrls } : {}),
        ...(autoTls ? { tlsAuto: { caPath: autoTls.caPath, caFingerprint: autoTls.caFingerprint } } : {}),
        ...(debugAddress ? { debugUrl: urlOf(false, debugAddress) } : {}),
      };
    },
    async reload(next) {
      const result = await reloadConfiguration(current, next, { registry, outbox: notifications.outbox, recorder: notifications.recorder, audit, log });
      current = next;
      return result;
    },
    async importSettled() {
      await registry2Import?.finished;
    },
    async close() {
      health.stop();
      stopTlsRenewal?.();
      audit.stop();
      policyAdministration.stop();
      await registry2Import?.stop();
      await stopMaintenance?.();
      await collections.settled();
      control.close();
      control.closeAllConnections();
      await Promise.all([http, ...repositoryListeners.map((listener) => listener.http)].map((server) => server.close(config.http.drainTimeoutMs)));
      await registry.fillsSettled();
      await notifications.outbox.stop();
      await operations.debug?.close();
      await access?.close();
      await stores.close();
      directoryLock?.release();
    },
  };
}

function urlOf(tls: boolean, address: { host: string; port: number }): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${tls ? 'https' : 'http'}://${host}:${address.port}`;
}

/** Checks the automatic certificate daily; a renewed one is served to new connections at once. */
function renewAutoTls(auto: NonNullable<Config['http']['tlsAuto']>, servers: Server[], scheduler: Scheduler, log: Logger): () => void {
  return scheduler.every('tls-renewal', 24 * 3_600_000, async () => {
    const result = ensureAutoTls(auto);
    if (!result.serverIssued) return;
    const paths = autoTlsPaths(auto.directory);
    const context = { cert: readFileSync(paths.certificate), key: readFileSync(paths.key) };
    // The main listener and every repository's own listener serve the same certificate.
    for (const server of servers) (server as HttpsServer).setSecureContext(context);
    log.info({ caCreated: result.caCreated }, 'the automatic TLS certificate was renewed');
  });
}

/** The token service, when the access configuration has one; token issuance is audited. */
function accessEndpoints(access: AccessControl, audit: AuditTrail): Endpoint[] {
  if (!access.tokens) return [];
  // Token issuance is audited where the principal is known; refused logins where passwords are checked.
  const service = Object.create(access.tokens.service) as typeof access.tokens.service;
  service.issue = async (principal, requested, offline) => {
    const issued = await access.tokens!.service.issue(principal, requested, offline);
    audit.record(principal.kind === 'user' ? principal.name : 'anonymous', 'token.issue', {}, { detail: { scopes: requested.length, offline } });
    return issued;
  };
  return [tokenEndpoint(service, auditedAuthenticator(access.tokens.passwords, audit, '/token'), 'berth token service')];
}
