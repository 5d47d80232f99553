import type { Writable } from 'node:stream';

/**
 * Corks destinations while chunks are handed to them and uncorks them once the event loop has
 * run what is ready, so the upstream chunks read in one turn (often several 64 KiB socket
 * reads) leave in one writev per client instead of one write system call each: fewer system
 * calls here, fewer wake-ups of the client. A destination is released at once when it holds
 * BATCH_BYTES, or when its reader stops being handed chunks (it may then wait for a drain,
 * which a corked stream never reaches).
 */
const BATCH_BYTES = 512 * 1024;

export class WriteBatches {
  private readonly corked = new Set<Writable>();
  private flush: NodeJS.Immediate | undefined;

  /** Call before writing to `destination`. */
  hold(destination: Writable): void {
    if (this.corked.has(destination)) {
      if (destination.writableLength < BATCH_BYTES) return;
      // A full batch leaves now; the next one starts with this write.
      destination.uncork();
      destination.cork();
      return;
    }
    destination.cork();
    this.corked.add(destination);
    this.flush ??= setImmediate(() => this.releaseAll());
  }

  release(destination: Writable): void {
    if (this.corked.delete(destination)) destination.uncork();
  }

  releaseAll(): void {
    this.flush = undefined;
    for (const destination of this.corked) destination.uncork();
    this.corked.clear();
  }
}
