// The WAL checkpointer's thread: its own connection to the database, copying the write-ahead log
// into the database file when asked (see wal-checkpointer.ts). PASSIVE checkpoints never block the
// writer; each copies the frames that were in the log when it started, syncing the log before and
// the database file after, so what it copies is durable before the writer may reuse the log.
//
// It also starts the log over. After a checkpoint that copied the whole log, the next connection
// to write starts it over from the beginning and, at synchronous=NORMAL, syncs the log's new header
// first (an fsync, inside that commit). Left to the store, that was ~3 fsyncs a second on the
// event loop under the typing load (strace; docs/benchmarks.md, "2026-12-03, afternoon"). So
// after a finish step that copied the whole log, while the store holds its commits, this thread
// writes one row (log_restarts) itself. Not after a copy step: the store commits meanwhile, and a
// commit of the store's that had read before this row was written would fail (SQLITE_BUSY_SNAPSHOT).
// A copy step that happens to copy everything leaves the restart to the store, as before.
//
// The log it checkpoints is the tail's (log-tail.ts), which the store commits to. It also copies
// the tail into the session log when asked: a transaction on the main database file, which the
// store does not write meanwhile, synced before the reply (synchronous=FULL on `main`).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { lowerThreadPriority } from './background-priority.js';
import { copyTail, type KeptDuplicate } from './log-tail.js';

export type CheckpointRequest =
  /** 'copy': while the writer goes on; 'finish': the writer waits, so the log is copied whole. */
  | { type: 'copy' | 'finish' | 'close' }
  /** Copy the tail's rows up to this row id into the session log. */
  | { type: 'copy-tail'; upTo: number };
/** `frames`: the frames in the log when the checkpoint started (all of them copied). */
export type CheckpointReply =
  | { type: 'copied' | 'finished'; frames: number }
  /** `duplicates`: rows kept without their client message id (see copyTail). */
  | { type: 'tail-copied'; upTo: number; duplicates: KeptDuplicate[] }
  | { type: 'failed'; message: string; step: 'checkpoint' | 'copy-tail' };

const { file, tailFile, journalSizeLimit, nice } = workerData as {
  file: string;
  tailFile: string;
  journalSizeLimit: number;
  nice: number;
};
// Below the event loop's priority: see background-priority.ts.
if (nice > 0) lowerThreadPriority(nice);
// Waiting for the store's rare writes to the main file (snapshots) costs no one here.
const db = new Database(file, { timeout: 5000 });
db.prepare('ATTACH DATABASE ? AS tail').run(tailFile);
db.pragma('tail.synchronous = NORMAL');
db.pragma('main.synchronous = FULL');
// The first commit after a restart cuts a log grown past this back to it: that commit is ours.
db.pragma(`tail.journal_size_limit = ${journalSizeLimit}`);
db.pragma(`main.journal_size_limit = ${journalSizeLimit}`);
const startOver = db.prepare('INSERT OR REPLACE INTO tail.log_restarts (id, at) VALUES (1, ?)');

/** Runs a step and replies with its outcome, or with why it failed. */
function reply(step: 'checkpoint' | 'copy-tail', run: () => CheckpointReply): void {
  let outcome: CheckpointReply;
  try {
    outcome = run();
  } catch (err) {
    outcome = { type: 'failed', message: (err as Error).message, step };
  }
  parentPort!.postMessage(outcome);
}

parentPort!.on('message', (request: CheckpointRequest) => {
  if (request.type === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  if (request.type === 'copy-tail') {
    const { upTo } = request;
    return reply('copy-tail', () => ({ type: 'tail-copied', upTo, duplicates: copyTail(db, upTo) }));
  }
  const type = request.type === 'copy' ? 'copied' : 'finished';
  reply('checkpoint', () => {
    const [{ log, checkpointed }] = db.pragma('tail.wal_checkpoint(PASSIVE)') as [
      { log: number; checkpointed: number },
    ];
    if (type === 'finished' && log > 0 && checkpointed === log) startOver.run(Date.now());
    return { type, frames: log };
  });
});
