// An Engine on its own (no transport), for tests of the core's behaviour: in memory, with limits
// that stay out of the way unless a test sets them.
import { systemClock, type Clock } from '../../src/core/clock.js';
import { DEFAULT_CONTENT_LIMITS } from '../../src/core/content-limits.js';
import { Engine, type EngineOptions } from '../../src/core/engine.js';
import type { EngineHooks } from '../../src/core/session.js';
import type { Store } from '../../src/core/store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';

export function testEngine(
  options: {
    store?: Store;
    clock?: Clock;
    hooks?: EngineHooks;
    config?: Partial<EngineOptions['config']>;
  } = {},
): Engine {
  return new Engine({
    store: options.store ?? new MemoryStore(),
    clock: options.clock ?? systemClock,
    hooks: options.hooks,
    config: {
      limits: DEFAULT_CONTENT_LIMITS,
      historyVersions: 1000,
      snapshotEvery: 1000,
      idleAfterMs: 60_000,
      maxParticipantsPerSession: 100,
      snapshotChunkChars: 4096,
      catchUpBatch: 256,
      maxBatch: 256,
      commitRetries: 5,
      dedupeWindow: 64,
      presenceBatchMs: 0,
      evictAfterMs: 60_000,
      ...options.config,
    },
  });
}
