import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';

/**
 * What the fuzz test checks on disk after a run: nothing outside the storage root, only the
 * layout's own names inside it, and a blob tree in which every object was stored by a request
 * the registry accepted, holds exactly the bytes its name says, and is recorded in the database.
 */

/** Every file and directory under `root` (relative paths), skipping the subtrees in `except`. */
export async function snapshot(root: string, except: string[] = []): Promise<Set<string>> {
  const entries = new Set<string>();
  async function walk(directory: string): Promise<void> {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (except.includes(path)) continue;
      entries.add(relative(root, path) + (entry.isDirectory() ? sep : ''));
      if (entry.isDirectory()) await walk(path);
    }
  }
  await walk(root);
  return entries;
}

/** Names the storage root may hold (storage/layout.ts, the database and its WAL files, auth keys). */
const STORAGE_NAMES = [
  /^berth\.sqlite(?:-wal|-shm|-journal)?$/,
  /^berth\.(?:lock|pid|sock|sweep)$/,
  /^admin-password$/,
  /^token-signing-key\.pem$/,
  /^v1\/$/,
  /^v1\/blobs\/$/,
  /^v1\/blobs\/(?:sha256|sha512)\/$/,
  /^v1\/blobs\/(?:sha256|sha512)\/[0-9a-f]{2}\/$/,
  /^v1\/blobs\/sha256\/([0-9a-f]{2})\/\1[0-9a-f]{62}$/,
  /^v1\/blobs\/sha512\/([0-9a-f]{2})\/\1[0-9a-f]{126}$/,
  /^v1\/uploads\/$/,
  /^v1\/uploads\/[0-9a-f]{2}\/$/,
  /^v1\/uploads\/([0-9a-f]{2})\/\1[0-9a-f]{6}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  /^v1\/health\/$/,
  /^v1\/health\/probe$/,
];

export function unexpectedStorageEntries(entries: Set<string>): string[] {
  return [...entries].filter((entry) => !STORAGE_NAMES.some((pattern) => pattern.test(entry.split(sep).join('/'))));
}

export interface StoredBlob {
  digest: string;
  size: number;
  /** The digest of the file's actual content. */
  contentDigest: string;
}

/** Every object in the blob tree, rehashed (streamed: a blob is never held whole). */
/**
 * Every stored blob: the files of the blob tree, then the blobs kept in their database rows
 * (small ones: see src/storage/blob-store.ts), each with what its bytes hash to. A digest
 * listed twice is stored both ways, which no writer may do.
 */
export async function blobTree(storageRoot: string): Promise<StoredBlob[]> {
  const blobs: StoredBlob[] = [];
  for (const entry of await snapshot(join(storageRoot, 'v1', 'blobs')).catch(() => new Set<string>())) {
    if (entry.endsWith(sep)) continue;
    const [algorithm, , hex] = entry.split(sep);
    const path = join(storageRoot, 'v1', 'blobs', entry);
    const hash = createHash(algorithm === 'sha512' ? 'sha512' : 'sha256');
    await pipeline(createReadStream(path), hash);
    blobs.push({ digest: `${algorithm}:${hex}`, size: (await stat(path)).size, contentDigest: `${algorithm}:${hash.digest('hex')}` });
  }
  const database = new Database(join(storageRoot, 'berth.sqlite'), { readonly: true, fileMustExist: true });
  try {
    for (const row of database.prepare('SELECT digest, content FROM blobs WHERE content IS NOT NULL').iterate() as Iterable<{ digest: string; content: Buffer }>) {
      const algorithm = row.digest.split(':')[0]!;
      blobs.push({ digest: row.digest, size: row.content.length, contentDigest: `${algorithm}:${createHash(algorithm).update(row.content).digest('hex')}` });
    }
  } finally {
    database.close();
  }
  return blobs;
}

/** The `blobs` table (digest → size), read through a read-only connection. */
export function recordedBlobs(databasePath: string): Map<string, number> {
  const database = new Database(databasePath, { readonly: true, fileMustExist: true });
  try {
    const rows = database.prepare('SELECT digest, size FROM blobs').all() as { digest: string; size: number }[];
    return new Map(rows.map((row) => [row.digest, row.size]));
  } finally {
    database.close();
  }
}
