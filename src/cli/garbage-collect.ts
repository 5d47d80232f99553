import { randomUUID } from 'node:crypto';
import { loadConfig } from '../config/load.js';
import { formatBytes } from '../core/text.js';
import { BatchedTimes } from '../core/batched-times.js';
import {
  CollectionInProgressError,
  GarbageCollector,
  type CollectionProgress,
  type CollectionReport,
  type CollectionSummary,
  type RemovedCounts,
} from '../core/garbage-collector.js';
import { parseCommand, type CommandSpec, type OptionsConfig } from './arguments.js';
import { callServer, ServerCommandError } from './control-client.js';
import { withDataDirectory } from './data-directory.js';

/**
 * `berth garbage-collect [config.yml] [--dry-run|-d] [--delete-untagged|-m]`, registry:2's flags.
 *
 * Works whether or not a server runs on the storage: with one, the collection runs inside it
 * (through its control socket, under the same per-digest locks as its pushes) — no stop, no
 * read-only window, no configuration change; with none, it runs here, holding the data
 * directory's lock so no server starts meanwhile. Same flags, progress and report either way.
 */
export const GC_USAGE = 'berth garbage-collect [config.yml] [--dry-run|-d] [--delete-untagged|-m] [--grace <duration>] [--details]';

const GC_COMMAND = {
  help: `usage: ${GC_USAGE}

Reclaims the space of content nothing references any more, online: beside a running server
(it collects inside it) or on a stopped registry.
  -d, --dry-run           print what would be removed, remove nothing
  -m, --delete-untagged   also remove manifests no tag points at (older than the grace period)
  --grace <duration>      how long a blob touched by a push in progress stays protected
                          (default: storage.maintenance.gc.grace, 1h)
  --details               list every removed link, manifest and blob

Exit status: 0 done, 1 not done (the reason is printed), 2 bad usage.`,
  options: {
    'dry-run': { type: 'boolean', short: 'd' },
    'delete-untagged': { type: 'boolean', short: 'm' },
    grace: { type: 'string' },
    details: { type: 'boolean' },
  },
  positionals: { min: 0, max: 1 },
} satisfies CommandSpec<OptionsConfig>;

export async function garbageCollect(args: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const parsed = parseCommand(GC_COMMAND, args, out);
  if (!parsed) return 0;
  const [configPath] = parsed.positionals;
  const dryRun = parsed.values['dry-run'] === true;
  const deleteUntagged = parsed.values['delete-untagged'] === true;
  const details = parsed.values.details === true;
  const grace = parsed.values.grace;

  const env = { ...process.env, ...(grace !== undefined ? { REGISTRY_STORAGE_MAINTENANCE_GC_GRACE: grace } : {}) };
  const { config, warnings } = loadConfig(configPath, env);
  for (const warning of warnings) err.write(`warning: ${warning}\n`);
  const options = { dryRun, deleteUntagged, graceMs: config.storage.gc.graceMs };
  const onProgress = progressPrinter(err, dryRun);
  if (dryRun) out.write('dry run: nothing will be removed\n');
  try {
    const report = await withDataDirectory(
      config,
      async (socket) => {
        err.write('a Berth server is running on this storage: collecting through it, online\n');
        const query = new URLSearchParams({ dryRun: flag(dryRun), deleteUntagged: flag(deleteUntagged), graceMs: String(options.graceMs), details: flag(details) });
        return callServer<CollectionSummary & Partial<Pick<CollectionReport, 'details'>>>(socket, 'POST', `/gc?${query}`, (progress) => onProgress(progress as CollectionProgress));
      },
      async ({ metadata, blobs, locks }, lock) => {
        const collector = new GarbageCollector(metadata, blobs, locks, new BatchedTimes(async () => undefined), `cli-${randomUUID()}`, undefined, Date.now, lock.orphanSweep);
        return collector.collect({ ...options, onProgress });
      },
    );
    printReport(out, report, details);
    return 0;
  } catch (error) {
    if (error instanceof CollectionInProgressError || error instanceof ServerCommandError) {
      err.write(`berth: ${error instanceof CollectionInProgressError ? 'another garbage collection is running on this storage' : error.message}\n`);
      return 1;
    }
    throw error;
  }
}

function flag(value: boolean): string {
  return value ? '1' : '0';
}

/** The report: counts and bytes, what stays and why; with `details`, every removed item. */
export function printReport(out: NodeJS.WritableStream, report: CollectionSummary & Partial<Pick<CollectionReport, 'details'>>, details: boolean): void {
  const verb = report.dryRun ? 'would remove' : 'removed';
  if (details && report.details) {
    for (const link of report.details.links) out.write(`${verb} link ${link.repository} → ${link.digest}\n`);
    for (const manifest of report.details.manifests) out.write(`${verb} manifest ${manifest.repository}@${manifest.digest}\n`);
    for (const blob of report.details.blobs) out.write(`${verb} blob ${blob.digest} (${formatBytes(blob.size)})\n`);
    for (const blob of report.details.orphans) out.write(`${verb} orphaned blob ${blob.digest} (${formatBytes(blob.size)})\n`);
    for (const repository of report.details.repositories) out.write(`${verb} empty repository ${repository}\n`);
  }
  // Older servers answer without phases.
  if (details && report.phases) out.write(`time per step: ${report.phases.map((step) => `${step.phase} ${step.ms} ms (CPU ${step.cpuMs} ms)`).join(', ')}\n`);
  out.write(
    `${report.dryRun ? 'would free' : 'freed'} ${formatBytes(report.bytesFreed)} (${report.bytesFreed} bytes): ${verb} ${describeRemoved(report.removed)}` +
      ` in ${(report.durationMs / 1000).toFixed(2)} s\n`,
  );
  const { kept } = report;
  const graceNote = kept.protectedLinks.count + kept.restoredLinks > 0
    ? `; ${kept.protectedLinks.count + kept.restoredLinks} blob links (${formatBytes(kept.protectedLinks.bytes)}) kept for pushes in progress (touched after their last manifest, within the grace period)`
    : '';
  out.write(`kept ${kept.stored.count} objects (${formatBytes(kept.stored.bytes)}) still referenced by a manifest or a link${graceNote}\n`);
  if (kept.uploads.count > 0) out.write(`kept ${kept.uploads.count} uploads in progress (${formatBytes(kept.uploads.bytes)} so far)\n`);
  if (kept.untaggedManifests.count > 0 && report.removed.manifests === 0) {
    out.write(`kept ${kept.untaggedManifests.count} untagged manifests (${formatBytes(kept.untaggedManifests.bytes)}): --delete-untagged removes those older than the grace period\n`);
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

