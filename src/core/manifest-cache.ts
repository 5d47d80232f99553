import { LRUCache } from 'lru-cache';
import type { Digest } from '../oci/digest.js';

/**
 * Manifest bytes by digest. Content-addressed bytes never change, so entries never go
 * stale; the cache only bounds memory. Hot tags are served without touching the disk.
 */
export class ManifestCache {
  private readonly cache: LRUCache<Digest, Buffer>;

  constructor(maxBytes = 32 * 1024 * 1024) {
    this.cache = new LRUCache<Digest, Buffer>({ maxSize: maxBytes, sizeCalculation: (bytes) => Math.max(1, bytes.length) });
  }

  get(digest: Digest): Buffer | undefined {
    return this.cache.get(digest);
  }

  set(digest: Digest, bytes: Buffer): void {
    this.cache.set(digest, bytes);
  }
}
