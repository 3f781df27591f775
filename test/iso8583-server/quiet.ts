// Imported first by support.ts: mutes the logger before src/log.ts is evaluated (the
// harness sets TSERVE_LOG_LEVEL in its module body, after its imports have already
// created the logger).
process.env.TSERVE_LOG_LEVEL ??= 'silent';
export {};
