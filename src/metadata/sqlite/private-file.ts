import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Creates the database's directory (0700) and file (0600) for the owner only, before SQLite opens
 * it: the file holds password hashes, and SQLite gives its -wal and -shm files the database
 * file's mode. Existing directories and files keep the mode the operator gave them.
 */
export function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
