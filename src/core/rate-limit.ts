// Token buckets per key (a user, a session): `ratePerSecond` sustained, bursts up to `burst`.
import type { Clock } from './clock.js';

interface Bucket {
  tokens: number;
  updated: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {}

  get enabled(): boolean {
    return this.ratePerSecond > 0;
  }

  /** Takes one token: 0 when allowed, else the milliseconds until one is available. */
  take(key: string): number {
    if (!this.enabled) return 0;
    const now = this.clock.now();
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.burst, updated: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.updated) / 1000) * this.ratePerSecond);
    b.updated = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.ratePerSecond) * 1000);
  }

  /** Drops buckets that have refilled completely (they hold no information). */
  prune(): void {
    const now = this.clock.now();
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.updated) / 1000) * this.ratePerSecond >= this.burst) this.buckets.delete(key);
    }
  }
}
