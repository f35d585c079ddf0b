// Messages the server refused "for now" (rate limit, store unavailable): each is sent again under
// its id after the server's RetryInfo delay (at least an exponential pause), a few times at most.
export class RetrySchedule {
  private readonly attempts = new Map<string, number>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly limit = 5) {}

  /** Schedules `resend` unless `id` has used its retries; returns whether it did. */
  schedule(id: string, retryAfterMs: number, resend: () => void): boolean {
    const attempt = (this.attempts.get(id) ?? 0) + 1;
    if (attempt > this.limit) {
      this.attempts.delete(id);
      return false;
    }
    this.attempts.set(id, attempt);
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        resend();
      },
      Math.max(retryAfterMs, 250 * 2 ** attempt),
    );
    this.timers.add(timer);
    return true;
  }

  /** `id` was acknowledged or refused for good. */
  forget(id: string): void {
    this.attempts.delete(id);
  }

  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.attempts.clear();
  }
}
