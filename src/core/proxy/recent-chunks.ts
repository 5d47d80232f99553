/**
 * The last bytes a fill received, as the chunks that brought them: a reader a little behind
 * catches up from memory instead of opening the spool file. Bounded: once `capacity` bytes
 * are held the oldest chunks go (the newest one always stays, whatever its size).
 */
export class RecentChunks {
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** Offset in the blob of the first byte held. */
  start = 0;

  constructor(private readonly capacity: number) {}

  /** Offset just past the last byte received. */
  get end(): number {
    return this.start + this.bytes;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= this.capacity) {
      const dropped = this.chunks.shift()!;
      this.bytes -= dropped.length;
      this.start += dropped.length;
    }
  }

  /** Views of the bytes [from, to), which must lie within [start, end]; no bytes are copied. */
  slice(from: number, to: number): Buffer[] {
    const pieces: Buffer[] = [];
    let offset = this.start;
    for (const chunk of this.chunks) {
      if (offset >= to) break;
      const next = offset + chunk.length;
      if (next > from) pieces.push(chunk.subarray(Math.max(0, from - offset), Math.min(chunk.length, to - offset)));
      offset = next;
    }
    return pieces;
  }

  /** Releases the chunks; the offsets stay, so `start` still tells what memory no longer holds. */
  clear(): void {
    this.chunks = [];
    this.start += this.bytes;
    this.bytes = 0;
  }
}
