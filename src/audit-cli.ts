// `tserve audit verify` (walks the audit log's hash chain; exit 1 naming the first broken
// row), `tserve audit list` and `tserve user unlock` (an account locked by failed logins).
import type { Command } from 'commander';
import { terminalAccount, userAccount } from './auth/login-throttle.js';
import { openRuntime } from './bootstrap.js';
import type { Config } from './config.js';
import { verifyAuditChain } from './store/audit-chain.js';

export function addAuditCommands(program: Command, user: Command, config: () => Config): void {
  const audit = program.command('audit').description('the audit log (hash-chained, append-only)');

  audit
    .command('verify')
    .description('check the hash chain of the whole audit log; exits 1 naming the first row that was edited, removed or inserted')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      const rt = await openRuntime(config());
      try {
        const report = await verifyAuditChain(rt.store);
        if (opts.json) console.log(JSON.stringify(report, null, 2));
        else if (report.ok) {
          // The head's hash, to be noted elsewhere: a later run proves nothing before it changed.
          console.log(`audit log intact: ${report.rows} rows; head ${report.head ? `row ${report.head.lastId} ${report.head.lastHash}` : 'empty'}`);
        } else {
          const b = report.broken!;
          console.log(`AUDIT LOG BROKEN at ${b.id === null ? 'the chain head' : `row ${b.id}`}: ${b.reason} (${report.rows} rows verified before it)`);
        }
        process.exitCode = report.ok ? 0 : 1;
      } finally {
        await rt.store.close();
      }
    });

  audit
    .command('list')
    .description('the newest audit rows')
    .option('--actor <actor>', 'only this actor')
    .option('--action <action>', 'only this action, e.g. login.failure')
    .option('--limit <n>', 'how many', '50')
    .action(async (opts: { actor?: string; action?: string; limit: string }) => {
      const rt = await openRuntime(config());
      try {
        const page = await rt.store.listAudit({ actor: opts.actor, action: opts.action }, null, Math.min(1000, Math.max(1, Number(opts.limit) || 50)));
        for (const a of page.items) console.log([a.id, new Date(a.at).toISOString(), a.actor, a.action, a.target, a.detail ?? ''].join('\t'));
      } finally {
        await rt.store.close();
      }
    });

  user
    .command('unlock <username>')
    .description('unlock a user locked by failed logins (with --terminal: a terminal id, locked by failed token requests)')
    .option('--terminal', 'the name is a terminal id')
    .action(async (name: string, opts: { terminal?: boolean }) => {
      const rt = await openRuntime(config());
      try {
        const account = opts.terminal ? terminalAccount(name) : userAccount(name);
        const had = await rt.store.clearLoginFailures(account);
        await rt.store.appendAudit([{ actor: 'cli', action: opts.terminal ? 'terminal.unlock' : 'user.unlock', target: account, detail: { hadFailures: had } }]);
        console.log(had ? `${account} unlocked` : `${account} had no failed attempts counted`);
      } finally {
        await rt.store.close();
      }
    });
}
