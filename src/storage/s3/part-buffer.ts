/** Received chunks waiting to become a part: taken in exact sizes, copied once. */
export class PartBuffer {
  private chunks: Buffer[] = [];
  size = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** Puts bytes that came earlier in front. */
  prepend(chunks: Buffer[]): void {
    const kept = chunks.filter((chunk) => chunk.length > 0);
    this.chunks.unshift(...kept);
    this.size += kept.reduce((total, chunk) => total + chunk.length, 0);
  }

  /** The first `length` bytes (at most `size`), removed from the buffer. */
  take(length: number): Buffer {
    const taken: Buffer[] = [];
    let needed = length;
    while (needed > 0 && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      if (first.length <= needed) {
        taken.push(first);
        this.chunks.shift();
        needed -= first.length;
      } else {
        taken.push(first.subarray(0, needed));
        this.chunks[0] = first.subarray(needed);
        needed = 0;
      }
    }
    this.size -= length - needed;
    return Buffer.concat(taken);
  }
}
