import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { CollectionInProgressError, summarise, type GarbageCollector } from '../core/garbage-collector.js';
import type { Registry2Import } from '../core/import/registry2-import.js';
import type { Registry } from '../core/registry.js';
import { RegistryError } from '../oci/errors.js';
import { parseRepositoryName } from '../oci/names.js';

/**
 * The server's own command line, on a Unix socket inside the data directory: `berth
 * garbage-collect`, `berth import` and `berth repository rm` run through the server holding the
 * directory (its per-digest locks live in its memory), so they work with no stop and no
 * configuration change. Whoever can open the socket can read the database file beside it, so
 * the socket's permissions (0600, in a 0700 directory) are the authentication.
 *
 *   POST   /gc?dryRun=1&deleteUntagged=1&graceMs=N&details=1    NDJSON: {"progress"}…, then {"result"} or {"error"}
 *   POST   /import?dryRun=1                                       NDJSON, likewise
 *   DELETE /repositories/<name>                                   JSON: {"result"} or {"error"}
 */
export interface ControlDependencies {
  registry: Registry;
  collector: GarbageCollector;
  importer: Registry2Import;
  /** Settles when the import started with the server is over (later imports wait for it). */
  importAtStart: () => Promise<void>;
  defaultGraceMs: number;
  log: Logger;
}

export function createControlServer(deps: ControlDependencies): Server {
  let imports = Promise.resolve();
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const flag = (name: string) => url.searchParams.get(name) === '1' || url.searchParams.get(name) === 'true';
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /gc') {
      const graceMs = url.searchParams.has('graceMs') ? Number(url.searchParams.get('graceMs')) : deps.defaultGraceMs;
      return stream(res, deps.log, async (progress) => {
        try {
          const report = await deps.collector.collect({ dryRun: flag('dryRun'), deleteUntagged: flag('deleteUntagged'), graceMs, onProgress: progress });
          return flag('details') ? report : summarise(report);
        } catch (error) {
          if (error instanceof CollectionInProgressError) throw new RegistryError('TOOMANYREQUESTS', 'a garbage collection is already running on this registry; try again when it has finished');
          throw error;
        }
      });
    }
    if (route === 'POST /import') {
      return stream(res, deps.log, (progress) => {
        const run = imports.then(async () => {
          await deps.importAtStart();
          return deps.importer.run({ dryRun: flag('dryRun'), onProgress: progress });
        });
        imports = run.then(() => undefined, () => undefined);
        return run;
      });
    }
    if (req.method === 'DELETE' && url.pathname.startsWith('/repositories/')) {
      return stream(res, deps.log, async () => {
        const name = parseRepositoryName(decodeURIComponent(url.pathname.slice('/repositories/'.length)));
        return deps.registry.deleteRepository(name);
      });
    }
    respondLine(res, 404, { error: { code: 'NOT_FOUND', message: `no control route ${route}` } });
  });
}

/** Runs `action`, sending each progress event as a line and then its result (or error) as the last. */
function stream(res: ServerResponse, log: Logger, action: (progress: (event: unknown) => void) => Promise<unknown>): void {
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  const line = (value: unknown) => {
    if (!res.destroyed) res.write(`${JSON.stringify(value)}\n`);
  };
  action((progress) => line({ progress })).then(
    (result) => res.end(`${JSON.stringify({ result })}\n`),
    (error: unknown) => {
      if (!(error instanceof RegistryError)) log.error({ err: error }, 'control request failed');
      const code = error instanceof RegistryError ? error.code : 'UNKNOWN';
      const message = error instanceof Error ? error.message : String(error);
      res.end(`${JSON.stringify({ error: { code, message } })}\n`);
    },
  );
}

function respondLine(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/x-ndjson' });
  res.end(`${JSON.stringify(value)}\n`);
}

/**
 * Listens on the socket, replacing a stale one (the caller holds the data directory's lock, so
 * no live server owns it), readable and writable by the owner only.
 */
export function listenOnSocket(server: Server, path: string): Promise<void> {
  rmSync(path, { force: true });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      chmodSync(path, 0o600);
      resolve();
    });
  });
}
