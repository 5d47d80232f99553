import type { Readable } from 'node:stream';
import type { ByteRange } from '../oci/ranges.js';
import type { AppendOptions, ListedObject, ObjectReader, StorageDriver, StoredObject } from './driver.js';

/** Observes how long one driver action took, in seconds (registry:2's `registry_storage_action_seconds`). */
export type ActionTimer = (action: string, seconds: number) => void;

/**
 * A driver that times each action under registry:2's action names (Stat, Reader, PutContent,
 * Writer, Move, Delete, List, …). Only chosen when metrics are on; reading an opened object is
 * not timed (as in registry:2, where the Reader action is the open).
 */
export class TimedDriver implements StorageDriver {
  readonly description: string;
  /** Present exactly when the inner driver has them, so callers can still tell. */
  readonly deleteMany?: (keys: string[]) => Promise<void>;
  readonly presignGet?: (key: string, expiresInSeconds: number) => Promise<string>;

  constructor(
    private readonly inner: StorageDriver,
    private readonly observe: ActionTimer,
  ) {
    this.description = inner.description;
    if (inner.deleteMany) this.deleteMany = (keys) => this.timed('Delete', inner.deleteMany!(keys));
    if (inner.presignGet) this.presignGet = (key, expires) => this.timed('URLFor', inner.presignGet!(key, expires));
  }

  private async timed<T>(action: string, work: Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    try {
      return await work;
    } finally {
      this.observe(action, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  stat(key: string): Promise<StoredObject | undefined> {
    return this.timed('Stat', this.inner.stat(key));
  }

  read(key: string, range?: ByteRange): Promise<Readable> {
    return this.timed('Reader', this.inner.read(key, range));
  }

  open(key: string, range?: ByteRange): Promise<ObjectReader> {
    return this.timed('Reader', this.inner.open(key, range));
  }

  writeAtomic(key: string, data: Buffer): Promise<void> {
    return this.timed('PutContent', this.inner.writeAtomic(key, data));
  }

  append(key: string, source: Readable, options: AppendOptions): Promise<number> {
    return this.timed('Writer', this.inner.append(key, source, options));
  }

  sync(key: string): Promise<void> {
    return this.timed('Sync', this.inner.sync(key));
  }

  truncate(key: string, size: number): Promise<void> {
    return this.timed('Truncate', this.inner.truncate(key, size));
  }

  move(from: string, to: string): Promise<void> {
    return this.timed('Move', this.inner.move(from, to));
  }

  copy(from: string, to: string): Promise<void> {
    return this.timed('Copy', this.inner.copy(from, to));
  }

  delete(key: string): Promise<void> {
    return this.timed('Delete', this.inner.delete(key));
  }

  list(prefix: string): AsyncIterable<ListedObject> {
    return this.inner.list(prefix);
  }
}
