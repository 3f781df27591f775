// The WAL's checkpoints, on a thread of their own: the writer's connection does none
// (wal_autocheckpoint=0), so no booking batch waits for pages to be copied into the
// database and synced; this thread copies them (PASSIVE: it never blocks the writer or
// a reader) twice a second, and the WAL restarts from its beginning once all is copied.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const CHECKPOINT_EVERY_MS = 500;

const port = parentPort;
if (!port) throw new Error('checkpointer.ts runs on a worker thread');
const db = new Database((workerData as { file: string }).file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('synchronous = FULL');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or locked this time: the next tick tries again.
  }
}, CHECKPOINT_EVERY_MS);

port.on('message', (msg: string) => {
  if (msg !== 'close') return;
  clearInterval(timer);
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } finally {
    db.close();
    port.close();
  }
});
