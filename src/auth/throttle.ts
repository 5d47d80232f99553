import { LRUCache } from 'lru-cache';

/**
 * Failed-login throttling, keyed so that one client's failures never refuse another user's
 * correct password (behind a TLS proxy every client has the proxy's address):
 *
 * - per (address, user name): after `maxFailures` failures within `windowMs`, that address is
 *   refused for that name (429, the password is not checked) for a lockout that doubles with
 *   each consecutive lockout (1, 2, 4 … 32 windows). Other names from the same address and the
 *   same name from other addresses are unaffected.
 * - per user name, over all addresses: after `userMaxFailures` failures within `windowMs` the
 *   name is under attack for a lockout that grows the same way. While it is, an address gets
 *   one wrong guess for that name and is then refused for it until the name's lockout ends,
 *   so guessing from many addresses is slowed to one guess per address per lockout. The name
 *   itself is never refused: a correct password from an address that has not failed for it is
 *   always checked and accepted, so an attacker cannot lock a user out from everywhere.
 *
 * Names are counted as given, known or not, so the throttle does not reveal who exists. A
 * success clears that address's failures for that name. Memory is bounded: the least recently
 * seen entries are forgotten first.
 */
export interface ThrottleOptions {
  /** Failures of one name from one address before that pair is locked; 0 disables throttling. */
  maxFailures: number;
  windowMs: number;
  /** Failures of one name from all addresses before it is under attack (default 5 × maxFailures). */
  userMaxFailures?: number;
  /** Entries kept per kind (pairs, names). */
  maxEntries?: number;
}

interface Counter {
  failures: number;
  windowStart: number;
  lockedUntil: number;
  /** Consecutive lockouts: the next one lasts windowMs × 2^lockouts. */
  lockouts: number;
  lastFailure: number;
}

/** The longest lockout is 2^5 = 32 windows; after that long without a failure the backoff restarts. */
const MAX_BACKOFF_DOUBLINGS = 5;
/** Longer names cannot exist (see isValidUserName); sharing one counter for them is harmless. */
const MAX_NAME_KEY = 129;

export class LoginThrottle {
  private readonly pairs: LRUCache<string, Counter>;
  private readonly names: LRUCache<string, Counter>;
  private readonly userMaxFailures: number;

  constructor(
    private readonly options: ThrottleOptions,
    private readonly now: () => number = Date.now,
  ) {
    const max = options.maxEntries ?? 50_000;
    this.pairs = new LRUCache({ max });
    this.names = new LRUCache({ max });
    this.userMaxFailures = options.userMaxFailures ?? options.maxFailures * 5;
  }

  /** Seconds this address must wait before trying this name again, else undefined. */
  blocked(address: string, name: string): number | undefined {
    const counter = this.pairs.get(pairKey(address, name));
    return counter && this.secondsLeft(counter);
  }

  /** Records a failure; returns the wait in seconds if this address is now refused for this name. */
  failed(address: string, name: string): number | undefined {
    if (this.options.maxFailures <= 0) return undefined;
    const now = this.now();
    const attacked = this.count(this.names, nameKey(name), this.userMaxFailures, now);
    const pair = this.counter(this.pairs, pairKey(address, name), now);
    const underAttack = attacked.lockedUntil > now;
    pair.failures += 1;
    if (underAttack || pair.failures >= this.options.maxFailures) {
      this.lock(pair, now);
      if (underAttack) pair.lockedUntil = Math.max(pair.lockedUntil, attacked.lockedUntil);
    }
    return this.secondsLeft(pair);
  }

  /** A correct password: this address's failures for this name are forgiven. */
  succeeded(address: string, name: string): void {
    this.pairs.delete(pairKey(address, name));
  }

  /** How many pairs and names are remembered (bounded by maxEntries). */
  get size(): { pairs: number; names: number } {
    return { pairs: this.pairs.size, names: this.names.size };
  }

  private count(cache: LRUCache<string, Counter>, key: string, limit: number, now: number): Counter {
    const counter = this.counter(cache, key, now);
    counter.failures += 1;
    if (limit > 0 && counter.failures >= limit) this.lock(counter, now);
    return counter;
  }

  private counter(cache: LRUCache<string, Counter>, key: string, now: number): Counter {
    let counter = cache.get(key);
    if (!counter) {
      counter = { failures: 0, windowStart: now, lockedUntil: 0, lockouts: 0, lastFailure: now };
      cache.set(key, counter);
    }
    if (now - counter.lastFailure > this.options.windowMs * 2 ** MAX_BACKOFF_DOUBLINGS) counter.lockouts = 0;
    if (now - counter.windowStart > this.options.windowMs) {
      counter.failures = 0;
      counter.windowStart = now;
    }
    counter.lastFailure = now;
    return counter;
  }

  private lock(counter: Counter, now: number): void {
    const doublings = Math.min(counter.lockouts, MAX_BACKOFF_DOUBLINGS);
    counter.lockedUntil = Math.max(counter.lockedUntil, now + this.options.windowMs * 2 ** doublings);
    counter.lockouts += 1;
    counter.failures = 0;
    counter.windowStart = now;
  }

  private secondsLeft(counter: Counter): number | undefined {
    const now = this.now();
    if (counter.lockedUntil <= now) return undefined;
    return Math.max(1, Math.ceil((counter.lockedUntil - now) / 1000));
  }
}

function nameKey(name: string): string {
  return name.slice(0, MAX_NAME_KEY);
}

function pairKey(address: string, name: string): string {
  return `${address}\u0000${nameKey(name)}`;
}
