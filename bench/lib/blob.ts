import { createHash, randomBytes, randomFillSync, type Hash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync, writeSync } from 'node:fs';
import { Readable } from 'node:stream';

/**
 * Test blobs built from one random file on disk (kept in the page cache), so that a 2 GiB
 * blob costs no 2 GiB of client memory. A blob of `size` bytes is the file's content
 * repeated cyclically for `size - 32` bytes, then a 32-byte random trailer that makes every
 * blob unique (each push stores new content on both servers). The hash of the shared prefix
 * is computed once per size and copied per blob, so unique digests are cheap.
 */
export const TRAILER = 32;
const READ = 4 * 1024 * 1024;

export class RandomFile {
  private readonly prefixHashes = new Map<number, Hash>();

  private constructor(
    readonly path: string,
    readonly size: number,
  ) {}

  static create(path: string, size: number): RandomFile {
    const fd = openSync(path, 'w');
    try {
      const buffer = Buffer.allocUnsafe(Math.min(size, 16 * 1024 * 1024));
      for (let written = 0; written < size; ) {
        const n = Math.min(buffer.length, size - written);
        randomFillSync(buffer, 0, n);
        written += writeSync(fd, buffer, 0, n);
      }
    } finally {
      closeSync(fd);
    }
    return new RandomFile(path, size);
  }

  /** Reads the file once so that it is in the page cache. */
  warm(): void {
    const fd = openSync(this.path, 'r');
    const buffer = Buffer.allocUnsafe(READ);
    try {
      for (let position = 0; position < this.size; ) {
        const n = readSync(fd, buffer, 0, READ, position);
        if (n === 0) break;
        position += n;
      }
    } finally {
      closeSync(fd);
    }
  }

  /** A new unique blob of `size` bytes. */
  blob(size: number): SyntheticBlob {
    if (size <= TRAILER) throw new Error(`blob size ${size} must exceed ${TRAILER}`);
    const trailer = randomBytes(TRAILER);
    const digest = `sha256:${this.prefixHash(size - TRAILER).copy().update(trailer).digest('hex')}`;
    return new SyntheticBlob(this, size, trailer, digest);
  }

  private prefixHash(length: number): Hash {
    let hash = this.prefixHashes.get(length);
    if (!hash) {
      hash = createHash('sha256');
      const fd = openSync(this.path, 'r');
      const buffer = Buffer.allocUnsafe(READ);
      try {
        for (let done = 0; done < length; ) {
          const position = done % this.size;
          const n = readSync(fd, buffer, 0, Math.min(READ, length - done, this.size - position), position);
          hash.update(buffer.subarray(0, n));
          done += n;
        }
      } finally {
        closeSync(fd);
      }
      this.prefixHashes.set(length, hash);
    }
    return hash;
  }
}

export class SyntheticBlob {
  constructor(
    readonly file: RandomFile,
    readonly size: number,
    readonly trailer: Buffer,
    readonly digest: string,
  ) {}

  /** The bytes [start, end] (inclusive) as a stream of file reads and the trailer. */
  stream(start = 0, end = this.size - 1): Readable {
    const { file, trailer } = this;
    const prefix = this.size - TRAILER;
    async function* generate(): AsyncGenerator<Buffer> {
      let position = start;
      while (position <= end && position < prefix) {
        const offset = position % file.size;
        const last = Math.min(end, prefix - 1, position + (file.size - offset) - 1);
        for await (const chunk of createReadStream(file.path, { start: offset, end: offset + (last - position), highWaterMark: 1024 * 1024 })) {
          yield chunk as Buffer;
        }
        position = last + 1;
      }
      if (position <= end) yield trailer.subarray(position - prefix, end - prefix + 1);
    }
    return Readable.from(generate(), { objectMode: false });
  }
}

/** Small in-memory blobs (4 KiB pushes, manifests' config). */
export function smallBlob(size: number): { bytes: Buffer; digest: string } {
  const bytes = randomBytes(size);
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** An OCI image manifest of one config and one layer (given as blobs), optionally annotated. */
export function ociManifest(config: { bytes: Buffer; digest: string }, layer: { digest: string; size: number } | { bytes: Buffer; digest: string }, annotations?: Record<string, string>): Buffer {
  const layerSize = 'size' in layer ? layer.size : layer.bytes.length;
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.bytes.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layerSize }],
      ...(annotations ? { annotations } : {}),
    }),
  );
}
