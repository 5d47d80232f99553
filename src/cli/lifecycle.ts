import { openStores } from '../app-stores.js';
import { loadConfig } from '../config/load.js';
import { PolicyBook } from '../core/repository-policies.js';
import { RetentionRunner } from '../core/retention.js';
import { parseCommand, type CommandSpec, type OptionsConfig } from './arguments.js';
import { formatBytes } from '../core/text.js';

/**
 * `berth cleanup [config.yml] [--dry-run]`: applies the retention rules of `policies:` now.
 * It only changes rows in short transactions, so it is safe beside a running server; the
 * bytes are reclaimed by the next garbage collection.
 */
export const CLEANUP_USAGE = 'berth cleanup [config.yml] [--dry-run|-d]';
export const USAGE_USAGE = 'berth usage [config.yml]';

const CLEANUP_COMMAND = {
  help: `usage: ${CLEANUP_USAGE}

Applies the retention rules of policies: now; the bytes are reclaimed by the next garbage collection.
  -d, --dry-run   print the tags that would be removed, remove nothing`,
  options: { 'dry-run': { type: 'boolean', short: 'd' } },
  positionals: { min: 0, max: 1 },
} satisfies CommandSpec<OptionsConfig>;

const USAGE_COMMAND = {
  help: `usage: ${USAGE_USAGE}

Prints the storage used per repository, each distinct blob counted once per repository.`,
  options: {},
  positionals: { min: 0, max: 1 },
} satisfies CommandSpec<OptionsConfig>;

export async function cleanupCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const parsed = parseCommand(CLEANUP_COMMAND, args, out);
  if (!parsed) return 0;
  const dryRun = parsed.values['dry-run'] === true;
  const { config } = loadConfig(parsed.positionals[0]);
  const policies = new PolicyBook(config.policies);
  if (!policies.hasRetention) {
    out.write('no policy has retention rules: nothing to do\n');
    return 0;
  }
  const { metadata } = await openStores(config);
  try {
    const report = await new RetentionRunner(metadata, policies).run(dryRun);
    if (dryRun) out.write('dry run: nothing will be removed\n');
    for (const decision of report.tags) {
      out.write(`${dryRun ? 'would remove' : 'removed'} tag ${decision.repository}:${decision.tag} (${decision.digest}): ${decision.reason}\n`);
    }
    for (const manifest of report.manifests) out.write(`removed manifest ${manifest.repository}@${manifest.digest}\n`);
    out.write(dryRun ? `${report.tags.length} tags would be removed\n` : `${report.tags.length} tags and ${report.manifests.length} manifests removed\n`);
    return 0;
  } finally {
    await metadata.close();
  }
}

/** `berth usage [config.yml]`: storage used per repository, each distinct blob counted once per repository. */
export async function usageCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const parsed = parseCommand(USAGE_COMMAND, args, out);
  if (!parsed) return 0;
  const { config } = loadConfig(parsed.positionals[0]);
  const { metadata } = await openStores(config);
  try {
    const rows = await metadata.listUsage();
    out.write(`${'REPOSITORY'.padEnd(40)} ${'SIZE'.padStart(12)} ${'BYTES'.padStart(14)} ${'BLOBS'.padStart(6)} ${'MANIFESTS'.padStart(9)} ${'TAGS'.padStart(5)}\n`);
    for (const row of rows) {
      out.write(
        `${row.repository.padEnd(40)} ${formatBytes(row.bytes).padStart(12)} ${String(row.bytes).padStart(14)} ${String(row.blobs).padStart(6)} ${String(row.manifests).padStart(9)} ${String(row.tags).padStart(5)}\n`,
      );
    }
    return 0;
  } finally {
    await metadata.close();
  }
}
