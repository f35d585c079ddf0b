// The connection state machine: connecting -> connected -> reconnecting -> … until closed, or
// failed on a status a retry cannot fix or when the retry budget is spent; paused between a
// pause() and a resume() (no stream, no retries). Between attempts it
// waits with full-jitter backoff (never less than the server's RetryInfo); a circuit breaker
// around stream creation stops it from hammering a server that is down.
import { Backoff, type BackoffOptions } from './backoff.js';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.js';
import { isRetryable } from './status.js';
import type { ConnectionState } from './types.js';

/** How one session stream ended. */
export interface StreamEnd {
  code: number;
  reason: string;
  message: string;
  retryAfterMs: number;
  /** Whether the server welcomed the join (the attempt succeeded). */
  joined: boolean;
}

export interface ConnectionHooks {
  /** Runs one session stream, from open to end. */
  runStream(): Promise<StreamEnd>;
  setState(state: ConnectionState, info: { code?: number; reason?: string; message?: string }): void;
  /** The client gives up for good. */
  fail(end: StreamEnd): void;
}

export class ConnectionLoop {
  readonly backoff: Backoff;
  readonly breaker: CircuitBreaker;
  private readonly closing = new AbortController();
  private attemptsMade = 0;
  private started = false;
  /** Set by pause(); resume() resolves it. */
  private pausedUntil: { resumed: Promise<void>; resume: () => void } | undefined;

  constructor(
    private readonly hooks: ConnectionHooks,
    options: { backoff?: BackoffOptions; circuitBreaker?: CircuitBreakerOptions } = {},
  ) {
    this.backoff = new Backoff(options.backoff);
    this.breaker = new CircuitBreaker(options.circuitBreaker);
  }

  get attempts(): number {
    return this.attemptsMade;
  }

  /** The server welcomed a join: the attempt counts as a success. */
  joined(): void {
    this.breaker.recordSuccess();
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.run();
  }

  close(): void {
    this.closing.abort();
  }

  /** No stream from the current one's end until resume(): the caller ends that stream. */
  pause(): void {
    if (this.pausedUntil) return;
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    this.pausedUntil = { resumed, resume };
  }

  resume(): void {
    const pause = this.pausedUntil;
    this.pausedUntil = undefined;
    pause?.resume();
  }

  /** While paused: waits for resume() or close(). */
  private async whilePaused(): Promise<void> {
    const signal = this.closing.signal;
    if (!this.pausedUntil || signal.aborted) return;
    this.hooks.setState('paused', {});
    let onClose!: () => void;
    const closed = new Promise<void>((resolve) => {
      onClose = () => resolve();
      signal.addEventListener('abort', onClose);
    });
    await Promise.race([this.pausedUntil.resumed, closed]);
    signal.removeEventListener('abort', onClose);
    if (!signal.aborted) this.hooks.setState('connecting', {});
  }

  /** Waits `ms`, or less if the client closes. */
  private sleep(ms: number): Promise<void> {
    const signal = this.closing.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async run(): Promise<void> {
    const signal = this.closing.signal;
    this.hooks.setState('connecting', {});
    while (!signal.aborted) {
      await this.whilePaused();
      const wait = this.breaker.waitMs();
      if (wait > 0) await this.sleep(wait);
      if (signal.aborted) return;
      if (this.pausedUntil) continue;
      this.attemptsMade++;
      const end = await this.hooks.runStream();
      if (signal.aborted) return;
      // Ended for the pause: not a failure, nothing to back off from.
      if (this.pausedUntil) continue;
      if (!end.joined) this.breaker.recordFailure();
      if (!isRetryable(end.code)) return this.hooks.fail(end);
      if (end.joined) this.backoff.reset();
      if (this.backoff.exhausted) {
        return this.hooks.fail({
          ...end,
          message: `gave up after ${this.backoff.attempts} attempts: ${end.message}`,
        });
      }
      this.hooks.setState('reconnecting', { code: end.code, reason: end.reason, message: end.message });
      await this.sleep(this.backoff.next(end.retryAfterMs));
    }
  }
}
