import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { BCRYPT_COST, secretsEqual, verifyAgainstNobody, verifyPassword } from './passwords.js';
import type { IdentitySource } from './principal.js';

/** Where a user's bcrypt hash is kept: the htpasswd file or the access store. */
export interface StoredCredential {
  name: string;
  hash: string;
  source: IdentitySource;
}

export interface PasswordSource {
  lookup(name: string): Promise<StoredCredential | undefined>;
  /** The bcrypt cost most of its users' hashes have (undefined when it holds none). */
  prevailingCost(): Promise<number | undefined>;
}

export interface VerifiedUser {
  name: string;
  source: IdentitySource;
}

/**
 * Checks a user name and password against the sources in order (the first that knows the user
 * decides). bcrypt is slow on purpose, so a verified pair is remembered for `ttlMs`, keyed by an
 * HMAC of the pair under a per-process key (the cache never holds a password). A hit still
 * looks the user up and must find the same hash: a changed password, a removed user or a
 * rewritten htpasswd file invalidates it at once. `clear()` drops everything.
 */
export class PasswordVerifier {
  private readonly key = randomBytes(32);
  private readonly cache: LRUCache<string, { user: VerifiedUser; hash: string }>;

  constructor(
    private readonly sources: readonly PasswordSource[],
    ttlMs: number,
  ) {
    this.cache = new LRUCache({ max: 10_000, ttl: Math.max(1, ttlMs), ttlAutopurge: false });
  }

  async verify(name: string, password: string): Promise<VerifiedUser | undefined> {
    const stored = await this.lookup(name);
    if (!stored) return verifyAgainstNobody(password, await this.dummyCost()).then(() => undefined);
    const cacheKey = createHmac('sha256', this.key).update(name).update('\u0000').update(password).digest('base64');
    const cached = this.cache.get(cacheKey);
    if (cached && cached.user.source === stored.source && secretsEqual(cached.hash, stored.hash)) return cached.user;
    if (!(await verifyPassword(password, stored.hash))) return undefined;
    const user = { name: stored.name, source: stored.source };
    this.cache.set(cacheKey, { user, hash: stored.hash });
    return user;
  }

  clear(): void {
    this.cache.clear();
  }

  /**
   * The bcrypt cost an unknown user is checked at: the prevailing cost of the first source that
   * holds users (htpasswd before the database, as lookups go), so that "no such user" costs
   * what "wrong password" costs for most users.
   */
  async dummyCost(): Promise<number> {
    for (const source of this.sources) {
      const cost = await source.prevailingCost();
      if (cost !== undefined) return cost;
    }
    return BCRYPT_COST;
  }

  /** The stored credential for a user (refresh tokens are bound to its hash). */
  find(name: string): Promise<StoredCredential | undefined> {
    return this.lookup(name);
  }

  private async lookup(name: string): Promise<StoredCredential | undefined> {
    for (const source of this.sources) {
      const found = await source.lookup(name);
      if (found) return found;
    }
    return undefined;
  }
}
