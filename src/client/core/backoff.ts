// Exponential backoff with full jitter (delay = random(0, min(cap, base * 2^attempt))), which
// spreads a crowd of reconnecting clients instead of synchronising them.
export interface BackoffOptions {
  /** First delay ceiling, ms (default 1000). */
  baseDelayMs?: number;
  /** Largest delay ceiling, ms (default 30000). */
  maxDelayMs?: number;
  /** Consecutive failed attempts before giving up (default: never give up). */
  retryBudget?: number;
}

export class Backoff {
  private attempt = 0;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly retryBudget: number;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.retryBudget = options.retryBudget ?? Infinity;
  }

  get attempts(): number {
    return this.attempt;
  }

  get exhausted(): boolean {
    return this.attempt >= this.retryBudget;
  }

  /** The delay before the next attempt; never shorter than the server's RetryInfo hint. */
  next(retryAfterMs = 0): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(retryAfterMs, Math.floor(this.random() * ceiling));
  }

  reset(): void {
    this.attempt = 0;
  }
}
