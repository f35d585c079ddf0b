// A circuit breaker around stream creation: after `failureThreshold` consecutive failures it opens
// and no attempt is made for `resetAfterMs`; then one trial attempt (half-open) closes it on
// success or opens it again on failure. It keeps a client from hammering a server that is down.
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (default 5). */
  failureThreshold?: number;
  /** How long it stays open before a trial attempt, ms (default 30000). */
  resetAfterMs?: number;
}

export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private current: BreakerState = 'closed';
  readonly failureThreshold: number;
  readonly resetAfterMs: number;

  constructor(
    options: CircuitBreakerOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.resetAfterMs = options.resetAfterMs ?? 30_000;
  }

  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.resetAfterMs)
      this.current = 'half-open';
    return this.current;
  }

  /** Milliseconds until an attempt is allowed (0: now). */
  waitMs(): number {
    return this.state === 'open' ? this.resetAfterMs - (this.now() - this.openedAt) : 0;
  }

  recordSuccess(): void {
    this.failures = 0;
    this.current = 'closed';
  }

  recordFailure(): void {
    this.failures++;
    if (this.state === 'half-open' || this.failures >= this.failureThreshold) {
      this.current = 'open';
      this.openedAt = this.now();
    }
  }
}
