// When a batch is taken: once the event loop has read what arrived together.
//
// A burst of edits from many connections (everyone typing in the same few milliseconds) is not read
// in one turn of the event loop: the server wakes on the first socket with data, and the rest
// arrive while it handles that. Committing at the end of the first turn (one `setImmediate`) split
// each burst in two: under the typing load (100 sessions x 5 x 5 edits/s), 1,921 and 1,902 WAL
// flushes in two runs against 969 and 974 once the commit waited until a turn brought nothing new
// (docs/benchmarks.md, "2026-12-04, evening"). A durable commit costs ~265 µs of CPU beyond its
// events (the transaction, the flush's trip through the thread pool, the kernel's fdatasync), so
// the number of commits is most of what durability costs.
//
// One session's edits were split the same way one level up: its mailbox took the first edit of a
// burst as a batch of its own, and the rest waited for that commit to be durable. With 10
// participants of one session typing 200 edits/s each, 1,970 flushes in a run against 1,012 once
// the mailbox, too, waited for the burst. The PostgreSQL store's group commit gathers the same
// way: a third less of PostgreSQL's CPU per delivery under the typing load with one instance.
//
// So a batch waits for the next turn, and then for as long as each turn brings more, up to
// MAX_SETTLE_TURNS. While an immediate is pending the event loop polls without blocking: a turn
// with no I/O ready takes microseconds, and a command that arrives alone waits one turn more at
// each level that gathers (its session's mailbox, the store's group commit).

/** Turns of the event loop a batch waits at most for more (bounding its delay under a steady
 * stream). */
export const MAX_SETTLE_TURNS = 4;

/** Calls `take` once a turn of the event loop has added nothing to `pending()` (what is waiting to
 * be batched), at least one turn and at most MAX_SETTLE_TURNS from now. */
export function whenSettled(pending: () => number, take: () => void): void {
  let seen = -1;
  let turns = 0;
  const check = (): void => {
    const waiting = pending();
    if (waiting > seen && turns < MAX_SETTLE_TURNS) {
      seen = waiting;
      turns++;
      setImmediate(check);
    } else take();
  };
  // The first check only notes what is waiting: set outside the check phase, an immediate runs
  // in this very turn, before the next poll has read anything.
  setImmediate(check);
}
