import { constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { assertKeyInsideRoot } from './driver.js';

/** What the filesystem driver and the filesystem upload storage share. */

/** Large reads mean fewer syscalls and event-loop turns per MiB. */
export const READ_CHUNK = 1024 * 1024;
/** While receiving, start writing dirty pages back after this many bytes (see WriteBehind). */
const WRITE_BEHIND_BYTES = 32 * 1024 * 1024;

/** The path of `key` under `root`; keys come from `layout.ts`, and this refuses any that could leave the root. */
export function pathUnder(root: string, key: string): string {
  assertKeyInsideRoot(key);
  return join(root, ...key.split('/'));
}

/**
 * Overlaps the commit's fsync with receiving: every WRITE_BEHIND_BYTES an `fdatasync` starts
 * in the background (one at a time), so when a large upload ends only its tail is still
 * dirty. Measured with curl on a 512 MiB push: 613 -> 687 MiB/s (mean of six).
 */
export class WriteBehind {
  private pending = 0;
  private inFlight: Promise<void> | undefined;
  /** Linux reports a write-back error to an fd once: kept here so the upload fails instead of committing. */
  private failure: unknown;

  constructor(private readonly handle: FileHandle) {}

  wrote(bytes: number): void {
    this.pending += bytes;
    if (this.pending < WRITE_BEHIND_BYTES || this.inFlight || this.failure) return;
    this.pending = 0;
    this.inFlight = this.handle.datasync().then(
      () => {
        this.inFlight = undefined;
      },
      (error: unknown) => {
        this.failure = error;
        this.inFlight = undefined;
      },
    );
  }

  /** Waits for the running fdatasync (the handle must not be closed under it); throws its error. */
  async settle(): Promise<void> {
    await this.inFlight;
    if (this.failure) throw this.failure;
  }
}

export async function openCreatingParent(path: string, flags: 'w' | 'r+'): Promise<FileHandle> {
  try {
    return await open(path, flags);
  } catch (error) {
    if (!isNotFound(error) || flags !== 'w') throw error;
    await mkdir(dirname(path), { recursive: true });
    return open(path, flags);
  }
}

export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
