import { UpstreamUnavailable } from './unavailable.js';

/**
 * Stops hammering a dead upstream: after `threshold` failures in a row it opens and requests
 * fail at once; after a backoff (doubling up to a minute, or the upstream's Retry-After) one
 * request probes it again. A success closes it.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private backoffMs = 1_000;
  private probing = false;

  constructor(private readonly now: () => number, private readonly threshold = 3) {}

  check(host: string): void {
    if (this.failures < this.threshold) return;
    const now = this.now();
    if (now < this.openUntil || this.probing) {
      throw new UpstreamUnavailable(`upstream ${host} is failing; the next attempt is in ${Math.max(0, Math.ceil((this.openUntil - now) / 1000))} s`);
    }
    this.probing = true;
  }

  succeeded(): void {
    this.failures = 0;
    this.backoffMs = 1_000;
    this.probing = false;
  }

  failed(retryAfterMs?: number): void {
    this.failures += 1;
    this.probing = false;
    if (this.failures < this.threshold) return;
    this.openUntil = this.now() + (retryAfterMs ?? this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 60_000);
  }

  get open(): boolean {
    return this.failures >= this.threshold;
  }
}
