import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { FilesystemUploadStorage } from './filesystem-uploads.js';
import type { AppendedChunk, FollowableUploadStorage, UploadAppendOptions, UploadStorage, UploadStorageState } from './upload-storage.js';

/**
 * Proxy cache fills where the backend's uploads cannot be read while they grow (an S3
 * multipart upload's parts are invisible until it completes): the fill is spooled to a local
 * file that readers follow as it arrives, and streamed into the backend at the commit. A fill
 * belongs to one replica (its single-flight is per process), so a local file is enough.
 */
export class SpooledUploadStorage implements FollowableUploadStorage {
  constructor(
    private readonly local: FilesystemUploadStorage,
    private readonly target: UploadStorage,
  ) {}

  append(id: string, state: UploadStorageState, source: Readable, options: UploadAppendOptions): Promise<AppendedChunk> {
    return this.local.append(id, state, source, options);
  }

  prepare(id: string): Promise<void> {
    return this.local.prepare(id);
  }

  sendRange(id: string, start: number, end: number, destination: Writable, signal?: AbortSignal): Promise<number | undefined> {
    return this.local.sendRange(id, start, end, destination, signal);
  }

  read(id: string, state: UploadStorageState, size: number): Promise<Readable> {
    return this.local.read(id, state, size);
  }

  async commit(id: string, state: UploadStorageState, size: number, digest: Digest): Promise<void> {
    try {
      const bytes = await this.local.read(id, state, size);
      const sent = await this.target.append(id, undefined, bytes, { offset: 0, final: true, length: size }).catch(async (error: unknown) => {
        await this.target.cancel(id, undefined).catch(() => undefined);
        throw error;
      });
      await this.target.commit(id, sent.state, size, digest);
    } finally {
      // Readers still on the spool are told it moved on, and follow the committed blob.
      await this.local.cancel(id);
    }
  }

  cancel(id: string): Promise<void> {
    return this.local.cancel(id);
  }

  list(): AsyncIterable<{ id: string; modifiedAt: Date }> {
    return this.local.list();
  }
}
