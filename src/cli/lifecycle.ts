import { openStores } from '../app.js';
import { loadConfig } from '../config/load.js';
import { PolicyBook } from '../core/repository-policies.js';
import { RetentionRunner } from '../core/retention.js';
import { formatBytes } from './garbage-collect.js';

/**
 * `berth cleanup [config.yml] [--dry-run]`: applies the retention rules of `policies:` now.
 * It only changes rows in short transactions, so it is safe beside a running server; the
 * bytes are reclaimed by the next garbage collection.
 */
export const CLEANUP_USAGE = 'berth cleanup [config.yml] [--dry-run|-d]';
export const USAGE_USAGE = 'berth usage [config.yml]';

export async function cleanupCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const dryRun = args.includes('--dry-run') || args.includes('-d');
  const configPath = args.find((arg) => !arg.startsWith('-'));
  const { config } = loadConfig(configPath);
  const policies = new PolicyBook(config.policies);
  if (!policies.hasRetention) {
    out.write('no policy has retention rules: nothing to do\n');
    return 0;
  }
  const { metadata } = openStores(config);
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
  const { config } = loadConfig(args.find((arg) => !arg.startsWith('-')));
  const { metadata } = openStores(config);
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
