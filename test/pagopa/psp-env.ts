// The settings of a switch whose pagoPA bridge talks to a test's node simulator, and of an
// in-process switch on free loopback ports (the pagoPA suites share them).
import type { PspIdentity } from '../../src/pagopa/types.js';

/** TSERVE_PAGOPA_* for the simulator at `url` knowing `psp`; a 2 s timeout per attempt unless `extra` says. */
export function pspEnv(url: string, psp: PspIdentity, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TSERVE_PAGOPA_NODE_URL: url,
    TSERVE_PAGOPA_PSP_ID: psp.idPSP,
    TSERVE_PAGOPA_BROKER_ID: psp.idBrokerPSP,
    TSERVE_PAGOPA_CHANNEL_ID: psp.idChannel,
    TSERVE_PAGOPA_PSP_FISCAL_CODE: '01234567890',
    TSERVE_PAGOPA_PASSWORD: psp.password,
    TSERVE_PAGOPA_SUBSCRIPTION_KEY: psp.subscriptionKey,
    TSERVE_PAGOPA_TIMEOUT_MS: '2000',
    ...extra,
  };
}

/** An in-process switch (startServer) on free loopback ports, a small demo network, no nightly run, silent. */
export function localSwitchEnv(dataDir: string): Record<string, string> {
  return {
    TSERVE_DATA_DIR: dataDir,
    TSERVE_HTTP_HOST: '127.0.0.1',
    TSERVE_HTTP_PORT: '0',
    TSERVE_ISO_HOST: '127.0.0.1',
    TSERVE_ISO_PORT: '0',
    TSERVE_SEED_POSITIONS: '100',
    TSERVE_SETTLEMENT_SCHEDULE: 'false',
    TSERVE_RATE_LIMIT_PER_MINUTE: '1000000',
    TSERVE_AUTH_RATE_LIMIT_PER_MINUTE: '1000000',
    TSERVE_LOG_LEVEL: 'silent',
  };
}
