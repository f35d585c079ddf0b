// The WAL checkpointer's thread: its own connection to the database, copying the write-ahead log
// into the database file when asked (see wal-checkpointer.ts). PASSIVE checkpoints never block the
// writer; each copies the frames that were in the log when it started, syncing the log before and
// the database file after, so what it copies is durable before the writer may reuse the log.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointRequest {
  /** 'copy': while the writer goes on; 'finish': the writer waits, so the log is copied whole. */
  type: 'copy' | 'finish' | 'close';
}
/** `frames`: the frames in the log when the checkpoint started (all of them copied). */
export type CheckpointReply =
  { type: 'copied' | 'finished'; frames: number } | { type: 'failed'; message: string };

const { file } = workerData as { file: string };
const db = new Database(file, { timeout: 0 });
db.pragma('synchronous = NORMAL');

parentPort!.on('message', (request: CheckpointRequest) => {
  if (request.type === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  try {
    const [{ log }] = db.pragma('wal_checkpoint(PASSIVE)') as [{ log: number }];
    parentPort!.postMessage({
      type: request.type === 'copy' ? 'copied' : 'finished',
      frames: log,
    } satisfies CheckpointReply);
  } catch (err) {
    parentPort!.postMessage({ type: 'failed', message: (err as Error).message } satisfies CheckpointReply);
  }
});
