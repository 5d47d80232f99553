import { randomUUID } from 'node:crypto';
import { openStores } from '../app.js';
import { loadConfig } from '../config/load.js';
import { CollectionInProgressError, GarbageCollector, type CollectionProgress, type RemovedCounts } from '../core/garbage-collector.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import { INSTANCE_TIMEOUT_MS } from '../core/maintenance.js';
import { parseCommand, type CommandSpec, type OptionsConfig } from './arguments.js';

/**
 * `berth garbage-collect [config.yml] [--dry-run|-d] [--delete-untagged|-m]`, registry:2's flags.
 *
 * A running server collects online (storage.maintenance.gc); this command is for a registry
 * that is stopped. Its per-digest locks live in the server's memory, so running both at once
 * on one database could race: the command refuses while a server's heartbeat is fresh.
 */
export const GC_USAGE = 'berth garbage-collect [config.yml] [--dry-run|-d] [--delete-untagged|-m] [--grace <duration>]';

const GC_COMMAND = {
  help: `usage: ${GC_USAGE}

Reclaims the space of a stopped registry (a running one collects online, storage.maintenance.gc).
  -d, --dry-run           print what would be removed, remove nothing
  -m, --delete-untagged   also remove manifests no tag points at (older than the grace period)
  --grace <duration>      keep links and untagged manifests younger than this (default: storage.maintenance.gc.grace)`,
  options: {
    'dry-run': { type: 'boolean', short: 'd' },
    'delete-untagged': { type: 'boolean', short: 'm' },
    grace: { type: 'string' },
  },
  positionals: { min: 0, max: 1 },
} satisfies CommandSpec<OptionsConfig>;

export async function garbageCollect(args: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const parsed = parseCommand(GC_COMMAND, args, out);
  if (!parsed) return 0;
  const [configPath] = parsed.positionals;
  const dryRun = parsed.values['dry-run'] === true;
  const deleteUntagged = parsed.values['delete-untagged'] === true;
  const grace = parsed.values.grace;

  const env = { ...process.env, ...(grace !== undefined ? { REGISTRY_STORAGE_MAINTENANCE_GC_GRACE: grace } : {}) };
  const { config, warnings } = loadConfig(configPath, env);
  for (const warning of warnings) err.write(`warning: ${warning}\n`);
  const { metadata, blobs } = openStores(config);
  try {
    const live = await metadata.liveInstances(Date.now() - INSTANCE_TIMEOUT_MS);
    if (live.length > 0) {
      err.write(
        `a Berth server is running on this storage (instance ${live.join(', ')}); it collects garbage online.\n` +
          'Enable storage.maintenance.gc in its configuration, or stop it before collecting offline.\n',
      );
      return 1;
    }
    const collector = new GarbageCollector(metadata, blobs, new KeyedMutex(), `cli-${randomUUID()}`);
    const verb = dryRun ? 'would remove' : 'removed';
    if (dryRun) out.write('dry run: nothing will be removed\n');
    const report = await collector.collect({ dryRun, deleteUntagged, graceMs: config.storage.gc.graceMs, onProgress: progressPrinter(err, dryRun) });
    for (const link of report.links) out.write(`${verb} link ${link.repository} → ${link.digest}\n`);
    for (const manifest of report.manifests) out.write(`${verb} manifest ${manifest.repository}@${manifest.digest}\n`);
    for (const blob of report.blobs) out.write(`${verb} blob ${blob.digest} (${formatBytes(blob.size)})\n`);
    for (const blob of report.orphans) out.write(`${verb} orphaned blob ${blob.digest} (${formatBytes(blob.size)})\n`);
    out.write(
      `${dryRun ? 'would free' : 'freed'} ${formatBytes(report.bytesFreed)} (${report.bytesFreed} bytes): ` +
        `${report.links.length} links, ${report.manifests.length} manifests, ${report.blobs.length} blobs, ${report.orphans.length} orphaned blobs\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof CollectionInProgressError) {
      err.write('another garbage collection is running on this storage\n');
      return 1;
    }
    throw error;
  } finally {
    await metadata.close();
  }
}

/** One line per phase, and at most one progress line a second while blobs are checked. */
function progressPrinter(err: NodeJS.WritableStream, dryRun: boolean): (progress: CollectionProgress) => void {
  const verb = dryRun ? 'would remove' : 'removed';
  let lastLine = 0;
  return (progress) => {
    const now = Date.now();
    if (progress.phase === 'blobs' && progress.checked !== progress.total && now - lastLine < 1000) return;
    lastLine = now;
    const freed = `freed ${formatBytes(progress.bytesFreed)}`;
    const { removed } = progress;
    switch (progress.phase) {
      case 'done':
        err.write(`[done] ${verb} ${describeRemoved(removed)}; ${dryRun ? 'would free' : 'freed'} ${formatBytes(progress.bytesFreed)}\n`);
        return;
      case 'blobs':
        err.write(`[blobs] checked ${progress.checked}/${progress.total}, ${verb} ${removed.blobs} blobs, ${freed}\n`);
        return;
      case 'orphans':
        err.write(`[orphans] ${verb} ${removed.orphans} orphaned blobs, ${freed}\n`);
        return;
      default:
        err.write(`[${progress.phase}] ${verb} ${removed[progress.phase]} ${progress.phase}\n`);
    }
  };
}

function describeRemoved(removed: RemovedCounts): string {
  return `${removed.links} links, ${removed.manifests} manifests, ${removed.blobs} blobs, ${removed.orphans} orphaned blobs, ${removed.repositories} repositories`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
