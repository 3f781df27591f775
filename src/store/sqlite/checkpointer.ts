// The WAL's checkpoints, on a thread of their own: the writer's connection does none
// (wal_autocheckpoint=0), so no booking batch waits for pages to be copied into the
// database and synced; this thread copies them (PASSIVE: it never blocks the writer or
// a reader) twice a second, and the WAL restarts from its beginning once all is copied.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { advanceCheckpoint } from './balance-check.js';
import { FileIdentity } from './file-identity.js';

const CHECKPOINT_EVERY_MS = 500;
/** The balances' checkpoint (balance-check.ts) moves forward this often, so that a start sums few entries. */
const LEDGER_CHECKPOINT_EVERY_TICKS = 120;

const port = parentPort;
if (!port) throw new Error('checkpointer.ts runs on a worker thread');
const file = (workerData as { file: string }).file;
const db = new Database(file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('synchronous = FULL');
/** The files as at the first tick (the WAL exists once a connection has read in WAL mode). */
let files: FileIdentity | null = null;
let alarmed = false;
let ticks = 0;
const timer = setInterval(() => {
  if (++ticks % LEDGER_CHECKPOINT_EVERY_TICKS === 0 && !alarmed) {
    try {
      advanceCheckpoint(db);
    } catch {
      // A read that failed (the database changing under a seed): the next round tries again.
    }
  }
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or locked this time: the next tick tries again.
  }
  // Removed or replaced files are told to the main thread, which stops booking. The
  // checkpoints go on: pages of a removed WAL copied into the database are kept.
  try {
    files ??= new FileIdentity([file, `${file}-wal`]);
    const changed = alarmed ? null : files.changed();
    if (changed) {
      alarmed = true;
      port.postMessage({ alarm: changed });
    }
  } catch {
    // The WAL not there yet at the first tick: the next one looks again.
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
