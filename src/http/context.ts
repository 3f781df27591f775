import type { TokenService } from '../auth/tokens.js';
import type { Config } from '../config.js';
import type { Payments } from '../payments/service.js';
import type { Store } from '../store/types.js';
import type { Metrics } from '../metrics.js';
import type { Clock } from '../clock.js';
import type { PspClient } from '../pagopa/client.js';

/** What the HTTP edge is given by main.ts; it reaches nothing else. */
export interface AppContext {
  config: Config;
  store: Store;
  payments: Payments;
  tokens: TokenService;
  kek: Buffer;
  version: string;
  /** When given, GET /metrics serves them. */
  metrics?: Metrics;
  /** The switch's clock (login locks, audit times); the wall's when not given. */
  clock?: Clock;
  /** pagoPA's node (config.pagopa): the finance office's approvals send the reporting flows; null or absent: the bridge is off. */
  pagopa?: PspClient | null;
}
