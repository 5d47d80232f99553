import { loadConfig } from '../config/load.js';
import { Registry2Import, type ImportProgress, type ImportReport } from '../core/import/registry2-import.js';
import { Registry2Tree } from '../storage/registry2-tree.js';
import { parseCommand, type CommandSpec, type OptionsConfig } from './arguments.js';
import { callServer, ServerCommandError } from './control-client.js';
import { withDataDirectory } from './data-directory.js';
import { formatBytes } from '../core/text.js';

/**
 * `berth import [config.yml] [--dry-run]`: adopts the registry:2 tree in the storage root
 * (`docker/registry/v2`). A running server does this by itself at start; this command is for
 * doing it beforehand (with progress on the terminal), checking first (--dry-run), or again.
 * Beside a running server it runs inside that server (its control socket), like garbage-collect.
 *
 * Exit status: 0 when the import ran to the end (skipped items are listed, with reasons),
 * 1 when it could not run, 2 for bad usage.
 */
export const IMPORT_USAGE = 'berth import [config.yml] [--dry-run|-d]';

const IMPORT_COMMAND = {
  help: `usage: ${IMPORT_USAGE}

Serves the images of a registry:2 storage tree (docker/registry/v2 under the storage root)
without a re-push: blob files are shared in place, digests verified. Resumable, idempotent,
and safe beside a running server (which also does it by itself at start).
  -d, --dry-run   report what would be imported, write nothing`,
  options: { 'dry-run': { type: 'boolean', short: 'd' } },
  positionals: { min: 0, max: 1 },
} satisfies CommandSpec<OptionsConfig>;

export async function importCommand(args: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const parsed = parseCommand(IMPORT_COMMAND, args, out);
  if (!parsed) return 0;
  const dryRun = parsed.values['dry-run'] === true;
  const { config, warnings } = loadConfig(parsed.positionals[0]);
  for (const warning of warnings) err.write(`warning: ${warning}\n`);
  const missingTree = () => `no registry:2 tree in ${config.storage.driver.rootDirectory} (looked for docker/registry/v2/repositories/)\n`;
  let report: ImportReport | undefined;
  try {
    report = await withDataDirectory(
      config,
      async (socket) => {
        err.write('a Berth server is running on this storage: importing through it\n');
        return callServer<ImportReport>(socket, 'POST', `/import?dryRun=${dryRun ? 1 : 0}`, (progress) => printProgress(err, progress as ImportProgress));
      },
      async ({ driver, metadata, blobs, locks }) => {
        const tree = new Registry2Tree(driver);
        if (!(await tree.present())) return undefined;
        if (dryRun) out.write('dry run: nothing will be written\n');
        return new Registry2Import({ metadata, blobs, tree, locks }).run({ dryRun, onProgress: (progress) => printProgress(err, progress) });
      },
    );
  } catch (error) {
    if (error instanceof ServerCommandError) {
      err.write(`berth: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (!report) {
    err.write(missingTree());
    return 1;
  }
  for (const skip of report.skipped) out.write(`skipped ${skip.item}: ${skip.reason}\n`);
  out.write(
    `${dryRun ? 'would import' : 'imported'} ${report.repositories} repositories: ${report.manifests} manifests, ${report.tags} tags, ` +
      `${report.links} layer links, ${report.blobs} blobs (${formatBytes(report.bytes)}, shared with registry:2's files); ` +
      `${report.unchanged} already present, ${report.skipped.length} skipped, in ${(report.durationMs / 1000).toFixed(1)} s\n`,
  );
  return 0;
}

function printProgress(err: NodeJS.WritableStream, progress: ImportProgress): void {
  if (progress.phase === 'scan') err.write(`[scan] ${progress.total} repositories\n`);
  if (progress.phase === 'repository') {
    const { manifests, tags, links, blobs, unchanged } = progress.counts;
    err.write(`[${progress.done}/${progress.total}] ${progress.repository}: so far ${manifests} manifests, ${tags} tags, ${links} links, ${blobs} blobs, ${unchanged} unchanged, ${progress.skipped} skipped\n`);
  }
}
