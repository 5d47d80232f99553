import { LRUCache } from 'lru-cache';

/**
 * Failed-login throttling per client address. After `maxFailures` failures within `windowMs`,
 * that client is refused (429 TOOMANYREQUESTS, even with good credentials) until the window
 * since its first counted failure has passed, plus one more window per further attempt while
 * locked. Other clients are unaffected. Bounded memory: the least recently seen clients are
 * forgotten first.
 */
export interface ThrottleOptions {
  maxFailures: number;
  windowMs: number;
}

interface ClientState {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

export class LoginThrottle {
  private readonly clients = new LRUCache<string, ClientState>({ max: 50_000 });

  constructor(
    private readonly options: ThrottleOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds to wait if the client is locked out, else undefined. */
  blocked(client: string): number | undefined {
    const state = this.clients.get(client);
    const now = this.now();
    if (!state || state.lockedUntil <= now) return undefined;
    return Math.max(1, Math.ceil((state.lockedUntil - now) / 1000));
  }

  /** Records a failure; returns the lockout in seconds if this one crossed the limit. */
  failed(client: string): number | undefined {
    if (this.options.maxFailures <= 0) return undefined;
    const now = this.now();
    let state = this.clients.get(client);
    if (!state || now - state.windowStart > this.options.windowMs) {
      state = { failures: 0, windowStart: now, lockedUntil: 0 };
      this.clients.set(client, state);
    }
    state.failures += 1;
    if (state.failures >= this.options.maxFailures) {
      state.lockedUntil = Math.max(state.lockedUntil, now) + this.options.windowMs;
      state.windowStart = now;
      return this.blocked(client);
    }
    return undefined;
  }
}
