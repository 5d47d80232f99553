import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.js';
import { printable } from './names.js';

/**
 * Content digests (`algorithm:hex`). Only sha256 and sha512 are accepted, with lowercase hex
 * of the exact length, so a parsed digest is also safe to use as a storage key segment.
 */
export type DigestAlgorithm = 'sha256' | 'sha512';
export type Digest = string & { readonly __brand: 'Digest' };

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const GENERAL_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function parseDigest(value: string): Digest {
  const colon = value.indexOf(':');
  if (colon < 0 || !GENERAL_GRAMMAR.test(value)) {
    throw new RegistryError('DIGEST_INVALID', `invalid digest "${printable(value)}": expected algorithm:hex, e.g. sha256:<64 hex digits>`);
  }
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm "${printable(algorithm)}": use sha256 or sha512`);
  }
  const expected = HEX_LENGTH[algorithm];
  if (hex.length !== expected || !/^[0-9a-f]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `invalid ${algorithm} digest: expected ${expected} lowercase hex digits`);
  }
  return value as Digest;
}

export function isDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** Incremental hash of a byte stream, fed chunk by chunk while the bytes are written. */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  private hash: Hash;
  private bytes = 0;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  get size(): number {
    return this.bytes;
  }

  /** The digest so far; the running state is kept, so more bytes may follow. */
  digest(): Digest {
    return `${this.algorithm}:${this.hash.copy().digest('hex')}` as Digest;
  }
}

export function digestOf(bytes: Buffer, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}
