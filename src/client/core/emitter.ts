// A small typed event emitter that runs anywhere (node:events does not run in a browser). A
// listener that throws does not stop the others or the client: its error is rethrown on its own,
// where the host reports uncaught errors.
export type Listener<Args extends unknown[]> = (...args: Args) => void;

type AnyListener = ((...args: unknown[]) => void) & { original?: unknown };

export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  private readonly listeners = new Map<keyof Events, Set<AnyListener>>();

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.of(event).add(listener as unknown as AnyListener);
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    const wrapped: AnyListener = (...args) => {
      this.of(event).delete(wrapped);
      (listener as unknown as AnyListener)(...args);
    };
    // `off` with the original listener removes the wrapper.
    wrapped.original = listener;
    this.of(event).add(wrapped);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const l of set) {
      if (l === (listener as unknown) || l.original === listener) {
        set.delete(l);
        return;
      }
    }
  }

  /** Whether anyone listens to `event` (an event costly to compute is then skipped). */
  has(event: keyof Events): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }

  private of(event: keyof Events): Set<AnyListener> {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    return set;
  }

  emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(...args);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
