// A Connection's wire for a server-streaming call over HTTP: Connect handlers yield messages from
// an async generator, which Connect pulls as the response body drains. Encoded messages wait here
// in a short buffer; past it, `write` says "full" and the Connection's outbound queue holds the
// rest (and ends a consumer that stays too slow), exactly as on a gRPC stream.
import type { LiveReviewError } from '../../core/errors.js';
import type { ConnectionWire } from '../connection.js';

/** Messages buffered here before `write` reports back-pressure. */
const HIGH_WATER = 16;

export class PulledStream implements ConnectionWire {
  private readonly pending: Buffer[] = [];
  private ended: { error?: LiveReviewError } | undefined;
  private wake: (() => void) | undefined;
  private drained: (() => void)[] = [];

  write(bytes: Buffer): boolean {
    if (this.ended) return false;
    this.pending.push(bytes);
    this.notify();
    return this.pending.length < HIGH_WATER;
  }

  onceDrain(fn: () => void): void {
    this.drained.push(fn);
  }

  end(error?: LiveReviewError): void {
    if (this.ended) return;
    this.ended = error ? { error } : {};
    this.notify();
  }

  /** Each message as it is written, until the Connection ends the call; then what is left is
   * delivered and the iteration ends, or throws the error the call ended with. */
  async *messages(): AsyncGenerator<Buffer> {
    for (;;) {
      const next = this.pending.shift();
      if (next) {
        if (this.pending.length < HIGH_WATER / 2 && this.drained.length > 0) {
          const waiting = this.drained;
          this.drained = [];
          for (const fn of waiting) fn();
        }
        yield next;
        continue;
      }
      if (this.ended) {
        if (this.ended.error) throw this.ended.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
