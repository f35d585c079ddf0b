// Time, injected so the engine never reaches for the system clock or timers directly.
import { whenSettled } from './settled-turns.js';

export interface Clock {
  now(): number;
  setInterval(fn: () => void, ms: number): { cancel(): void };
  setTimeout(fn: () => void, ms: number): { cancel(): void };
  /** Calls `take` once what arrived together has been read (`pending()` stops growing; see
   * settled-turns.ts): when a session's mailbox takes a batch. Without it, at once. */
  whenSettled?(pending: () => number, take: () => void): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setInterval(fn, ms) {
    const timer = setInterval(fn, ms);
    timer.unref();
    return { cancel: () => clearInterval(timer) };
  },
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
  whenSettled,
};
