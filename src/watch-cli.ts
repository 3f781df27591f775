// `tserve watch`: the live stream in a terminal (stream/watch.ts). Without --url it goes
// where the switch of this configuration listens (port, host, https with TLS), as the
// other commands take their database from it.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import type { Config } from './config.js';
import { localTrust, localUrl } from './net/local-switch.js';
import { SwitchUnavailable, UNAVAILABLE_STATUS, postJson, watch } from './stream/watch.js';

const int = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return Number(v);
};

interface WatchFlags {
  url?: string;
  user?: string;
  terminal?: string;
  after?: number;
  scope: string;
  service?: string;
  entity?: string;
  counter?: string;
  type?: string;
  json?: boolean;
  ca?: string;
  retryFor: number;
}

export function addWatchCommand(program: Command, loadConfig: () => Config): void {
  program
    .command('watch')
    .description('print the live event stream (payments, reversals, terminals, counters); resumes by itself after a restart of the switch')
    .option('--url <url>', 'switch URL (default: from the configuration: TSERVE_HTTP_PORT and TSERVE_HTTP_HOST, a wildcard host as loopback, https when TLS is on)')
    .option('--user <name>', 'user to log in as (password from TSERVE_PASSWORD)')
    .option('--terminal <id>', 'terminal to log in as (secret from TSERVE_TERMINAL_SECRET)')
    .option('--after <seq>', 'replay events after this sequence number, then go live', int('after'))
    .option('--scope <scope>', 'for terminals: terminal or counter', 'terminal')
    .option('--service <codes>', 'only these services (comma-separated)')
    .option('--entity <ids>', 'only these entities')
    .option('--counter <ids>', 'only these counters')
    .option('--type <types>', 'only these event types, e.g. payment.booked,payment.reversed')
    .option('--json', 'print raw JSON events')
    .option('--ca <file>', "for https:// URLs: the CA (PEM) that signed the switch's certificate (default: with --url the system's CAs; without, the configured certificate TSERVE_TLS_CERT)")
    .option('--retry-for <seconds>', 'while the switch is down or restarting, keep trying this long before giving up', int('retry-for'), 300)
    .action(async (o: WatchFlags) => {
      const ca = o.ca ? { ca: readFileSync(o.ca) } : undefined;
      // The configuration only when no URL is given: an operator's shell elsewhere may have none.
      const local = o.url ? null : loadConfig().http;
      const url = o.url ?? localUrl(local!);
      const tls = ca ?? (local ? localTrust(local) : undefined);
      const login = async (): Promise<string> => {
        const body = o.terminal
          ? { path: '/v1/auth/token', json: { terminalId: o.terminal, secret: process.env.TSERVE_TERMINAL_SECRET ?? '' } }
          : o.user
            ? { path: '/v1/auth/login', json: { username: o.user, password: process.env.TSERVE_PASSWORD ?? '' } }
            : null;
        if (!body) throw new Error('give --user (with TSERVE_PASSWORD) or --terminal (with TSERVE_TERMINAL_SECRET)');
        const res = await postJson(url + body.path, body.json, tls);
        const answer = res.body as { token?: string; detail?: string };
        if (UNAVAILABLE_STATUS.has(res.status)) throw new SwitchUnavailable(`login: ${res.status} ${answer.detail ?? ''}`.trim());
        if (res.status !== 200 || !answer.token) throw new Error(`login refused: ${answer.detail ?? res.status}`);
        return answer.token;
      };
      process.exitCode = await watch({
        url,
        login,
        after: o.after,
        filters: { scope: o.terminal ? o.scope : undefined, service: o.service, entity: o.entity, counter: o.counter, type: o.type },
        json: Boolean(o.json),
        tls,
        retryForMs: o.retryFor * 1000,
      });
    });
}
