import { openStores, sharedByReplicas, type Stores } from '../app-stores.js';
import { loadConfig } from '../config/load.js';
import { checkImages, ContentMismatchError, copyBlobs, type StoredObjectRow } from '../core/storage-migration.js';
import { copyMetadata, TargetNotEmptyError } from '../metadata/sql/copy.js';
import { DataDirectoryInUseError, DataDirectoryLock } from '../storage/data-directory-lock.js';
import { parseCommand, type CommandSpec, type OptionsConfig } from './arguments.js';

/**
 * `berth migrate-storage FROM.yml TO.yml`: moves a stopped registry (typically the embedded
 * filesystem + SQLite) to other storage and database (S3 + PostgreSQL, for replicas). Bytes
 * first, each re-hashed on the way; then the metadata in one transaction; then every tagged
 * image is checked on the target. Run again after a failure: copied objects are skipped.
 */
export const MIGRATE_STORAGE_USAGE = 'berth migrate-storage FROM.yml TO.yml';

const MIGRATE_STORAGE_COMMAND = {
  help: `usage: ${MIGRATE_STORAGE_USAGE}

Moves a registry from the storage and database FROM.yml configures (stop its server first) to those
TO.yml configures (for instance storage.s3 and database.enabled, to run replicas): every stored object
is copied and its digest checked, then every repository, tag, user, role, webhook cursor and audit
entry, then each tagged image is verified on the target. The target database must hold no registry
yet. Upload sessions in progress are not moved (their clients start over). Objects already on the
target are skipped, so an interrupted move can simply be run again.

Exit status: 0 moved and verified, 1 not done or not verified (the reason is printed), 2 bad usage.`,
  options: {},
  positionals: { min: 2, max: 2 },
} satisfies CommandSpec<OptionsConfig>;

export async function migrateStorageCommand(args: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const parsed = parseCommand(MIGRATE_STORAGE_COMMAND, args, out);
  if (!parsed) return 0;
  const [fromPath, toPath] = parsed.positionals as [string, string];
  const from = loadConfig(fromPath).config;
  const to = loadConfig(toPath).config;
  let lock: DataDirectoryLock | undefined;
  let source: Stores | undefined;
  let target: Stores | undefined;
  try {
    // The source must not change underneath: its server is stopped (its data directory is free).
    lock = sharedByReplicas(from) ? undefined : DataDirectoryLock.acquire(from.storage.driver.rootDirectory);
    source = await openStores(from);
    target = await openStores(to);
    out.write(`moving ${source.driver.description} + ${source.database.description}\n    to ${target.driver.description} + ${target.database.description}\n`);
    // Blobs kept in their rows move with the metadata.
    const objects = await source.database.all<StoredObjectRow>('SELECT digest, size FROM blobs WHERE content IS NULL ORDER BY digest');
    let reported = 0;
    const copied = await copyBlobs(objects, source.driver, target, (progress) => {
      const done = progress.copied + progress.skipped;
      if (done - reported >= 500 || done === progress.total) {
        reported = done;
        out.write(`  objects: ${done}/${progress.total}\n`);
      }
    });
    out.write(`objects: ${copied.copied} copied (${copied.bytes} bytes), ${copied.skipped} already there\n`);
    const rows = await copyMetadata(source.database, target.database);
    out.write(`metadata: ${Object.entries(rows).map(([table, count]) => `${table} ${count}`).join(', ')}\n`);
    const check = await checkImages(target.metadata, target.blobs, source.driver);
    out.write(`verified: ${check.tags - check.problems.length} of ${check.tags} tags in ${check.repositories} repositories\n`);
    for (const problem of check.problems) err.write(`  ${problem}\n`);
    return check.problems.length === 0 ? 0 : 1;
  } catch (error) {
    if (error instanceof DataDirectoryInUseError) {
      err.write(`berth: ${error.message}; stop the server before moving its registry\n`);
      return 1;
    }
    if (error instanceof TargetNotEmptyError || error instanceof ContentMismatchError) {
      err.write(`berth: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await target?.close();
    await source?.close();
    lock?.release();
  }
}
