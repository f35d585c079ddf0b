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
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointRequest {
  /** 'copy': while the writer goes on; 'finish': the writer waits, so the log is copied whole. */
  type: 'copy' | 'finish' | 'close';
}
/** `frames`: the frames in the log when the checkpoint started (all of them copied). */
export type CheckpointReply =
  { type: 'copied' | 'finished'; frames: number } | { type: 'failed'; message: string };

const { file, journalSizeLimit } = workerData as { file: string; journalSizeLimit: number };
const db = new Database(file, { timeout: 0 });
db.pragma('synchronous = NORMAL');
// The first commit after a restart cuts a log grown past this back to it: that commit is ours.
db.pragma(`journal_size_limit = ${journalSizeLimit}`);
const startOver = db.prepare('INSERT OR REPLACE INTO log_restarts (id, at) VALUES (1, ?)');

parentPort!.on('message', (request: CheckpointRequest) => {
  if (request.type === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  try {
    const [{ log, checkpointed }] = db.pragma('wal_checkpoint(PASSIVE)') as [
      { log: number; checkpointed: number },
    ];
    if (request.type === 'finish' && log > 0 && checkpointed === log) startOver.run(Date.now());
    parentPort!.postMessage({
      type: request.type === 'copy' ? 'copied' : 'finished',
      frames: log,
    } satisfies CheckpointReply);
  } catch (err) {
    parentPort!.postMessage({ type: 'failed', message: (err as Error).message } satisfies CheckpointReply);
  }
});
