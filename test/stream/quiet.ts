// Imported first by support.ts: mutes the logger before src/log.ts is evaluated.
process.env.TSERVE_LOG_LEVEL ??= 'silent';
export {};
