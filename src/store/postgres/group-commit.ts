// Group commit for an asynchronous store: appends that arrive while earlier groups are in flight
// wait and then go out together, one statement (one round trip, one commit) per group. A session
// has at most one batch per group; a second one waits for the next group (the engine commits one
// batch per session at a time, so that only happens when callers race on purpose).
import type pg from 'pg';
import { whenSettled } from '../../core/settled-turns.js';
import type { AppendResult } from '../../core/store.js';
import { appendGroup, type AppendRequest } from './append.js';

interface PendingAppend extends AppendRequest {
  resolve(r: AppendResult): void;
  reject(err: unknown): void;
}

/** Counters since the store opened (for metrics and benchmarks). */
export interface GroupCommitStats {
  /** Statements that committed groups (including groups of one). */
  groups: number;
  appends: number;
  events: number;
  /** Groups whose statement failed on one member's account and were retried one append each. */
  retriedAlone: number;
}

export class GroupCommit {
  readonly stats: GroupCommitStats = { groups: 0, appends: 0, events: 0, retriedAlone: 0 };
  private pending: PendingAppend[] = [];
  private scheduled = false;
  private readonly inFlight = new Set<Promise<void>>();

  /**
   * @param maxInFlight groups committing at once; appends arriving meanwhile join the next group.
   * @param grouped false: every append is its own statement, sent at once (the pool's size is then
   *   the only cap).
   */
  constructor(
    private readonly pool: pg.Pool,
    private readonly maxInFlight: number,
    private readonly grouped: boolean,
  ) {}

  submit(request: AppendRequest): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      const append = { ...request, resolve, reject };
      if (this.grouped) {
        this.pending.push(append);
        this.schedule();
      } else {
        this.commit([append]);
      }
    });
  }

  /** Resolves once every submitted append has its outcome. */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight.size > 0) {
      if (this.inFlight.size > 0) await Promise.race(this.inFlight);
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.pending.length === 0 || this.inFlight.size >= this.maxInFlight) return;
    this.scheduled = true;
    // Waiting until a turn of the event loop brings no more appends lets the sessions whose
    // mailboxes took a batch meanwhile join the group (core/settled-turns.ts).
    whenSettled(
      () => this.pending.length,
      () => {
        this.scheduled = false;
        const group: PendingAppend[] = [];
        const later: PendingAppend[] = [];
        const sessions = new Set<string>();
        for (const a of this.pending) {
          (sessions.has(a.sessionId) ? later : group).push(a);
          sessions.add(a.sessionId);
        }
        this.pending = later;
        this.commit(group);
      },
    );
  }

  private commit(group: PendingAppend[]): void {
    const done = appendGroup(this.pool, group).then(
      ({ outcomes, retriedAlone }) => {
        this.stats.groups++;
        if (retriedAlone) this.stats.retriedAlone++;
        outcomes.forEach((o, i) => {
          if (o.status === 'rejected') return group[i]!.reject(o.reason);
          if (o.value.ok) {
            this.stats.appends++;
            this.stats.events += group[i]!.events.length;
          }
          group[i]!.resolve(o.value);
        });
      },
      (err: unknown) => group.forEach((a) => a.reject(err)),
    );
    const tracked = done.finally(() => {
      this.inFlight.delete(tracked);
      this.schedule();
    });
    this.inFlight.add(tracked);
  }
}
