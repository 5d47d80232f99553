import { parseArgs } from 'node:util';
import { openStores } from '../app.js';
import { loadConfig } from '../config/load.js';
import { Registry2Import, type ImportProgress } from '../core/import/registry2-import.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import { INSTANCE_TIMEOUT_MS } from '../core/maintenance.js';
import { Registry2Tree } from '../storage/registry2-tree.js';
import { formatBytes } from './garbage-collect.js';

/**
 * `berth import [config.yml] [--dry-run]`: adopts the registry:2 tree in the storage root
 * (`docker/registry/v2`). A running server does this by itself at start; this command is for
 * doing it beforehand (with progress on the terminal), checking first (--dry-run), or again.
 * Like garbage-collect it refuses beside a running server: the per-digest locks that keep the
 * import safe against online garbage collection live in that server's memory.
 *
 * Exit status: 0 when the import ran to the end (skipped items are listed, with reasons),
 * 1 when it could not run, 2 for bad usage.
 */
export const IMPORT_USAGE = 'berth import [config.yml] [--dry-run|-d]';

export async function importCommand(args: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { 'dry-run': { type: 'boolean', short: 'd', default: false } }, allowPositionals: true, strict: true });
  } catch (error) {
    err.write(`${(error as Error).message}\nusage: ${IMPORT_USAGE}\n`);
    return 2;
  }
  if (parsed.positionals.length > 1) {
    err.write(`too many arguments: ${parsed.positionals.join(' ')}\nusage: ${IMPORT_USAGE}\n`);
    return 2;
  }
  const dryRun = parsed.values['dry-run'] === true;

  const { config, warnings } = loadConfig(parsed.positionals[0]);
  for (const warning of warnings) err.write(`warning: ${warning}\n`);
  const { driver, metadata, blobs } = openStores(config);
  try {
    const live = await metadata.liveInstances(Date.now() - INSTANCE_TIMEOUT_MS);
    if (live.length > 0) {
      err.write(
        `a Berth server is running on this storage (instance ${live.join(', ')}); it imports a registry:2 tree by itself at start.\n` +
          'Stop it before importing from the command line.\n',
      );
      return 1;
    }
    const tree = new Registry2Tree(driver);
    if (!(await tree.present())) {
      err.write(`no registry:2 tree in ${config.storage.driver.rootDirectory} (looked for docker/registry/v2/repositories/)\n`);
      return 1;
    }
    if (dryRun) out.write('dry run: nothing will be written\n');
    const importer = new Registry2Import({ metadata, blobs, tree, locks: new KeyedMutex() });
    const report = await importer.run({ dryRun, onProgress: progressPrinter(err) });
    for (const skip of report.skipped) out.write(`skipped ${skip.item}: ${skip.reason}\n`);
    out.write(
      `${dryRun ? 'would import' : 'imported'} ${report.repositories} repositories: ${report.manifests} manifests, ${report.tags} tags, ` +
        `${report.links} layer links, ${report.blobs} blobs (${formatBytes(report.bytes)}, shared with registry:2's files); ` +
        `${report.unchanged} already present, ${report.skipped.length} skipped, in ${(report.durationMs / 1000).toFixed(1)} s\n`,
    );
    return 0;
  } finally {
    await metadata.close();
  }
}

function progressPrinter(err: NodeJS.WritableStream): (progress: ImportProgress) => void {
  return (progress) => {
    if (progress.phase === 'scan') err.write(`[scan] ${progress.total} repositories\n`);
    if (progress.phase === 'repository') {
      const { manifests, tags, links, blobs, unchanged } = progress.counts;
      err.write(`[${progress.done}/${progress.total}] ${progress.repository}: so far ${manifests} manifests, ${tags} tags, ${links} links, ${blobs} blobs, ${unchanged} unchanged, ${progress.skipped} skipped\n`);
    }
  };
}
