import type { Readable } from 'node:stream';
import type { AcceptList } from '../oci/accept.js';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import type { RepositoryName, Tag } from '../oci/names.js';
import type { RangeRequest } from '../oci/ranges.js';
import type { ManifestReference } from '../oci/routes.js';
import type { ManifestRecord, Page } from '../metadata/store.js';
import type { BlobContent, BlobInfo, ManifestContent, MountResult, RepositoryHandle, StoredManifest } from './repository.js';
import type { CommittedBlob, UploadProgress, WriteOptions } from './uploads.js';

/** Answers that mean "not in this member": the next member is asked. */
const ABSENT = new Set(['BLOB_UNKNOWN', 'MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);

/**
 * One image seen through a group: reads ask the members in order (the first that has a tag
 * wins; a digest may come from any); writes and deletes go to the writable member only.
 * A member that fails for another reason (an upstream down) does not hide later members; its
 * error is raised only when no member has the content.
 */
export class GroupRepository implements RepositoryHandle {
  constructor(
    readonly name: RepositoryName,
    /** Group name, for messages. */
    private readonly group: string,
    private readonly members: readonly RepositoryHandle[],
    private readonly writable: RepositoryHandle | undefined,
  ) {}

  private target(): RepositoryHandle {
    if (!this.writable) {
      throw new RegistryError('DENIED', `repository group "${this.group}" has no writablemember: push to one of its hosted members instead`, { name: this.name });
    }
    return this.writable;
  }

  private async first<T>(ask: (member: RepositoryHandle) => Promise<T>): Promise<T> {
    let failure: unknown;
    let absent: unknown;
    for (const member of this.members) {
      try {
        return await ask(member);
      } catch (error) {
        if (error instanceof RegistryError && ABSENT.has(error.code)) absent ??= error;
        else failure ??= error;
      }
    }
    throw failure ?? absent ?? new RegistryError('NAME_UNKNOWN', `repository ${this.name} is not known to this registry`, { name: this.name });
  }

  /**
   * A push checks before uploading: a blob another member already holds is linked into the
   * writable member (as a mount would), so the manifest that follows finds it there and the
   * client does not upload it again. Only then are members asked that would have to fetch it.
   */
  async statBlob(digest: Digest): Promise<BlobInfo> {
    if (this.writable) {
      const own = await this.writable.localBlob(digest);
      if (own) return this.writable.statBlob(digest);
      for (const member of this.members) {
        if (member === this.writable || !(await member.localBlob(digest))) continue;
        const result = await this.writable.mountBlob(digest, member).catch(() => undefined);
        if (result && 'mounted' in result) return result.mounted;
        if (result) await this.writable.cancelUpload(result.upload.id).catch(() => undefined);
      }
    }
    return this.first((member) => member.statBlob(digest));
  }

  async localBlob(digest: Digest): Promise<BlobInfo | undefined> {
    for (const member of this.members) {
      const blob = await member.localBlob(digest);
      if (blob) return blob;
    }
    return undefined;
  }

  async openBlob(digest: Digest, range: RangeRequest | undefined): Promise<BlobContent> {
    for (const member of this.members) {
      if (await member.localBlob(digest)) return member.openBlob(digest, range);
    }
    return this.first((member) => member.openBlob(digest, range));
  }

  deleteBlob(digest: Digest): Promise<void> {
    return this.target().deleteBlob(digest);
  }

  startUpload(): Promise<UploadProgress> {
    return this.target().startUpload();
  }

  async mountBlob(digest: Digest, from: RepositoryHandle | undefined): Promise<MountResult> {
    return this.target().mountBlob(digest, from);
  }

  uploadMonolithic(digest: Digest, body: Readable, options: WriteOptions): Promise<CommittedBlob> {
    return this.target().uploadMonolithic(digest, body, options);
  }

  uploadStatus(id: string): Promise<UploadProgress> {
    return this.target().uploadStatus(id);
  }

  uploadChunk(id: string, body: Readable, options: WriteOptions): Promise<UploadProgress> {
    return this.target().uploadChunk(id, body, options);
  }

  completeUpload(id: string, digest: Digest, body: Readable | undefined, options: WriteOptions): Promise<CommittedBlob> {
    return this.target().completeUpload(id, digest, body, options);
  }

  cancelUpload(id: string): Promise<void> {
    return this.target().cancelUpload(id);
  }

  statManifest(reference: ManifestReference, accept: AcceptList): Promise<ManifestRecord> {
    return this.first((member) => member.statManifest(reference, accept));
  }

  getManifest(reference: ManifestReference, accept: AcceptList): Promise<ManifestContent> {
    return this.first((member) => member.getManifest(reference, accept));
  }

  putManifest(reference: ManifestReference, body: Buffer, contentType: string | undefined): Promise<StoredManifest> {
    return this.target().putManifest(reference, body, contentType);
  }

  deleteManifest(reference: ManifestReference): Promise<void> {
    return this.target().deleteManifest(reference);
  }

  /** The sorted union of the members' tags, paged with `n` and `last` like any tag list. */
  async listTags(limit: number, last?: string): Promise<Page<Tag>> {
    const tags = new Set<Tag>();
    let known = false;
    let failure: unknown;
    for (const member of this.members) {
      try {
        for (let cursor: string | undefined; ;) {
          const page = await member.listTags(10_000, cursor);
          known = true;
          for (const tag of page.items) tags.add(tag);
          if (!page.more || page.items.length === 0) break;
          cursor = page.items.at(-1);
        }
      } catch (error) {
        if (!(error instanceof RegistryError && ABSENT.has(error.code))) failure ??= error;
      }
    }
    if (!known) throw failure ?? new RegistryError('NAME_UNKNOWN', `repository ${this.name} is not known to this registry`, { name: this.name });
    const sorted = [...tags].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).filter((tag) => last === undefined || tag > last);
    return { items: sorted.slice(0, limit), more: sorted.length > limit };
  }

  async referrers(subject: Digest, artifactType?: string): Promise<ManifestRecord[]> {
    const seen = new Map<Digest, ManifestRecord>();
    for (const member of this.members) {
      const records = await member.referrers(subject, artifactType).catch((error: unknown) => {
        if (error instanceof RegistryError) return [];
        throw error;
      });
      for (const record of records) if (!seen.has(record.digest)) seen.set(record.digest, record);
    }
    return [...seen.values()];
  }
}
