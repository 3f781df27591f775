// `npm start`: run the switch with the configuration from the environment.
import { loadConfig } from './config.js';
import { logger } from './log.js';
import { startServer } from './server.js';

async function main(): Promise<void> {
  // The demo pays pagoPA notices against the node simulator unless told otherwise.
  const config = loadConfig(process.env, { TSERVE_PAGOPA_DEMO_NODE: 'true' });
  const server = await startServer(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // After the handlers: whoever reads this line may send SIGTERM at once (a supervisor, a test).
  console.log(`tserve: listening on ${server.url}, ISO 8583 on port ${server.isoPort} (data in ${config.dataDir})`);
}

main().catch((err: unknown) => {
  console.error(`tserve: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
