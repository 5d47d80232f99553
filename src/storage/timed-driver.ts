import type { Readable } from 'node:stream';
import type { ByteRange } from '../oci/ranges.js';
import type { Digest } from '../oci/digest.js';
import type { ListedObject, ObjectReader, StorageDriver, StoredObject } from './driver.js';
import type { AppendedChunk, UploadAppendOptions, UploadStorage, UploadStorageState } from './upload-storage.js';

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

  private timed<T>(action: string, work: Promise<T>): Promise<T> {
    return timed(this.observe, action, work);
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

async function timed<T>(observe: ActionTimer, action: string, work: Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  try {
    return await work;
  } finally {
    observe(action, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

/** Upload storage timed under registry:2's names: an append is its `Writer`, a commit its `Move`. */
export class TimedUploadStorage implements UploadStorage {
  constructor(
    private readonly inner: UploadStorage,
    private readonly observe: ActionTimer,
  ) {}

  private timed<T>(action: string, work: Promise<T>): Promise<T> {
    return timed(this.observe, action, work);
  }

  append(id: string, state: UploadStorageState, source: Readable, options: UploadAppendOptions): Promise<AppendedChunk> {
    return this.timed('Writer', this.inner.append(id, state, source, options));
  }

  commit(id: string, state: UploadStorageState, size: number, digest: Digest): Promise<void> {
    return this.timed('Move', this.inner.commit(id, state, size, digest));
  }

  read(id: string, state: UploadStorageState, size: number): Promise<Readable> {
    return this.timed('Reader', this.inner.read(id, state, size));
  }

  cancel(id: string, state: UploadStorageState): Promise<void> {
    return this.timed('Delete', this.inner.cancel(id, state));
  }

  list(): AsyncIterable<{ id: string; modifiedAt: Date }> {
    return this.inner.list();
  }
}
