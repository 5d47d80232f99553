import { createSHA256, type IHasher } from 'hash-wasm';
import { Digester, type Digest } from '../oci/digest.js';

/**
 * The running sha256 of an upload session. A session's chunks may arrive at different
 * replicas, and Node's hash cannot be serialised, so each backend of digest state says whether
 * it can `save` one that any process can `restore` and go on from:
 * - `native`: Node's OpenSSL hash (several times faster); nothing to save, so a process that
 *   did not see the earlier chunks re-reads them once. Right for one process (the embedded
 *   default), where the live state stays in memory between chunks.
 * - `portable`: hash-wasm, whose state is saved with the session after every chunk, so any
 *   replica resumes without reading the upload back.
 */
export interface SessionDigest {
  update(chunk: Buffer): void;
  /** Bytes seen. */
  readonly size: number;
  /** The digest so far; more bytes may follow. */
  digest(): Digest;
  /** A state `restore` accepts, or undefined when this kind cannot be saved. */
  save(): Uint8Array | undefined;
}

export interface SessionDigests {
  readonly kind: 'native' | 'portable';
  create(): Promise<SessionDigest>;
  /** Continues from a saved state; undefined when it is not one this kind understands. */
  restore(state: Uint8Array, size: number): Promise<SessionDigest | undefined>;
}

export const nativeSessionDigests: SessionDigests = {
  kind: 'native',
  async create() {
    const digester = new Digester('sha256');
    return {
      update: (chunk) => digester.update(chunk),
      get size() {
        return digester.size;
      },
      digest: () => digester.digest(),
      save: () => undefined,
    };
  },
  async restore() {
    return undefined;
  },
};

/** The state's first byte names its format, so a later change of hasher cannot misread an old one. */
const PORTABLE_STATE_FORMAT = 1;

class PortableDigest implements SessionDigest {
  constructor(
    private readonly hasher: IHasher,
    private bytes: number,
  ) {}

  update(chunk: Buffer): void {
    this.hasher.update(chunk);
    this.bytes += chunk.length;
  }

  get size(): number {
    return this.bytes;
  }

  digest(): Digest {
    // digest() ends a hash-wasm hasher: finish a copy, keep the running state.
    const state = this.hasher.save();
    const hex = this.hasher.digest('hex');
    this.hasher.load(state);
    return `sha256:${hex}` as Digest;
  }

  save(): Uint8Array {
    const state = this.hasher.save();
    const saved = new Uint8Array(state.length + 1);
    saved[0] = PORTABLE_STATE_FORMAT;
    saved.set(state, 1);
    return saved;
  }
}

export const portableSessionDigests: SessionDigests = {
  kind: 'portable',
  async create() {
    const hasher = await createSHA256();
    hasher.init();
    return new PortableDigest(hasher, 0);
  },
  async restore(state, size) {
    if (state[0] !== PORTABLE_STATE_FORMAT) return undefined;
    const hasher = await createSHA256();
    try {
      hasher.load(state.subarray(1));
    } catch {
      return undefined;
    }
    return new PortableDigest(hasher, size);
  },
};
