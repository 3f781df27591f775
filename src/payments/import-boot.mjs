// Starts the import worker from TypeScript sources (npm start, tests): registers tsx's
// loader on this thread, then loads the worker. The build starts import-worker.js directly.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
