import type { Readable } from 'node:stream';
import type { ByteRange } from '../oci/ranges.js';
import type { ListedObject, ObjectReader, StorageDriver, StoredObject } from './driver.js';

/** Observes how long one driver action took, in seconds (registry:2's `registry_storage_action_seconds`). */
export type ActionTimer = (action: string, seconds: number) => void;

/**
 * A driver that times each action under registry:2's action names (Stat, Reader, PutContent,
 * Writer, Move, Delete, List, …). Only chosen when metrics are on; reading an opened object is
 * not timed (as in registry:2, where the Reader action is the open).
 */
export class TimedDriver implements StorageDriver {
  readonly description: string;

  constructor(
    private readonly inner: StorageDriver,
    private readonly observe: ActionTimer,
  ) {
    this.description = inner.description;
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

  copy(from: string, to: string): Promise<void> {
    return this.timed('Copy', this.inner.copy(from, to));
  }

  delete(key: string): Promise<void> {
    return this.timed('Delete', this.inner.delete(key));
  }

  get deleteMany(): StorageDriver['deleteMany'] {
    const inner = this.inner;
    return inner.deleteMany && ((keys) => this.timed('Delete', inner.deleteMany!(keys)));
  }

  get presignGet(): StorageDriver['presignGet'] {
    const inner = this.inner;
    return inner.presignGet && ((key, expires) => this.timed('RedirectURL', inner.presignGet!(key, expires)));
  }

  list(prefix: string): AsyncIterable<ListedObject> {
    return this.inner.list(prefix);
  }
}
