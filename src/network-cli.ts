// `tserve entity|service|fee|counter|terminals ...` and `tserve user list`: the network's
// configuration from the command line (issue 13). Each write builds a NetworkChange and
// goes through the one door (NetworkService.apply, actor 'cli'); a refused change prints
// every problem and exits 1. Options are named after the fields of src/network/change.ts.
// (`tserve terminal` is the simulator: provisioning is `tserve terminals`.)
import { Command, InvalidArgumentError, Option } from 'commander';
import type { z } from 'zod';
import { openRuntime, type Runtime } from './bootstrap.js';
import type { Config } from './config.js';
import { COUNTER_KINDS } from './domain/model.js';
import { nextCounterId, problemsDetail } from './http/network-api.js';
import * as N from './http/network-schemas.js';
import type { CounterInput, FeeScheduleInput, NetworkChange, NetworkKind, NetworkProblem, NetworkState } from './network/change.js';
import { NetworkService } from './network/service.js';
import { storeHolder } from './store/in-use.js';

const ACTOR = 'cli';

const int = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer (cents)`);
  return Number(v);
};

/** Every problem, one a line, then exit 1 (the program's catch prints the message). */
class RefusedChange extends Error {
  constructor(problems: NetworkProblem[]) {
    super(`${problemsDetail(problems).split(':')[0]}:\n${problems.map((p) => `  ${p.kind}${p.field ? ` ${p.field}` : ''}: ${p.message}`).join('\n')}`);
    this.name = 'RefusedChange';
  }
}

/** A readable table of rows (columns padded), or JSON with --json. */
function print(items: object[], json: boolean | undefined, columns?: string[]): void {
  if (json) return console.log(JSON.stringify(items, null, 2));
  const rows = items as Record<string, unknown>[];
  if (rows.length === 0) return console.log('(none)');
  const cols = columns ?? Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(line(cols));
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
}

/**
 * The embedded store has no cross-process signal: a switch running on the file would
 * keep its catalogue and caches. So on SQLite a change is refused while a switch holds
 * the file (as credentials-cli.ts does); on PostgreSQL every instance hears of it.
 */
async function refuseWhileEmbeddedRuns(config: Config): Promise<void> {
  if (config.database) return;
  const holder = await storeHolder(config);
  if (holder) throw new Error(`${holder}: change the network through the running switch's admin API instead (/v1/admin/..., docs/network-admin.md), or stop it first`);
}

interface Session {
  rt: Runtime;
  network: NetworkService;
  state: () => Promise<NetworkState>;
  /** Applies the change or throws every problem. */
  apply: (change: NetworkChange) => Promise<Awaited<ReturnType<NetworkService['apply']>> & { ok: true }>;
}

async function session<T>(config: Config, write: boolean, fn: (s: Session) => Promise<T>): Promise<T> {
  if (write) await refuseWhileEmbeddedRuns(config);
  const rt = await openRuntime(config);
  const network = new NetworkService(rt.store, rt.kek, rt.clock);
  try {
    return await fn({
      rt,
      network,
      state: () => network.state(),
      apply: async (change) => {
        const r = await network.apply(change, ACTOR);
        if (!r.ok) throw new RefusedChange(r.problems);
        return r;
      },
    });
  } finally {
    await rt.store.close();
  }
}

/** Options through the API's schema, so that the CLI refuses what the API refuses. */
function parsed<T extends z.ZodType>(schema: T, kind: NetworkKind, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new RefusedChange(N.zodProblems(kind, r.error.issues));
  return r.data;
}

/** Boolean fields: their --no-x option means false, not none. */
const FLAGS = new Set(['isCircuitOwner', 'pagopa']);

/** Fields given as options over the current item (or nothing for a new one): undefined options keep the current value. */
function merged<T extends object>(current: T | undefined, given: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(current ?? {}) };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) out[k] = v === false && !FLAGS.has(k) ? null : v;
  return out;
}

const counted = (applied: Record<string, { created: number; updated: number; unchanged: number }>, kind: NetworkKind) => {
  const a = applied[kind]!;
  return a.created ? 'created' : a.updated ? 'updated' : 'unchanged';
};

function entityCommands(program: Command, config: () => Config): void {
  const entity = program.command('entity').description('entities (creditors): tax code, VAT number, IBAN, FatturaPA office code, circuit fees');
  entity
    .command('list')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const s = await session(config(), false, (x) => x.state());
      const rows = s.entities.map((e) => ({ ...e, circuitFee: s.circuitFees.filter((f) => f.entityId === e.id).map((f) => `${f.effectiveFrom} ${f.feeCents} ${f.mode}`).pop() ?? null }));
      print(rows, o.json, ['id', 'name', 'fiscalCode', 'vatNumber', 'iban', 'officeCode', 'isCircuitOwner', 'segregationCode', 'pagopa', 'circuitFee']);
    });
  entity
    .command('show <id>')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const s = await session(config(), false, (x) => x.state());
      const e = s.entities.find((x) => x.id === id);
      if (!e) throw new Error(`no entity ${id}`);
      const circuitFees = s.circuitFees.filter((f) => f.entityId === id);
      if (o.json) return console.log(JSON.stringify({ ...e, circuitFees }, null, 2));
      for (const [k, v] of Object.entries(e)) console.log(`${k}: ${v ?? '-'}`);
      console.log('circuit fees:');
      print(circuitFees, false, ['effectiveFrom', 'feeCents', 'mode']);
    });
  entity
    .command('set <id>')
    .description('create an entity, or change the fields given')
    .option('--name <name>')
    .option('--fiscal-code <digits>', 'codice fiscale, 11 digits')
    .option('--vat-number <digits>', 'partita IVA, 11 digits')
    .option('--no-vat-number', 'the entity has no VAT number')
    .option('--iban <iban>', 'payout account')
    .option('--office-code <code>', 'FatturaPA Codice Univoco Ufficio, 6 characters')
    .option('--no-office-code', 'no e-invoice')
    .option('--circuit-owner', 'the entity owns the circuit')
    .option('--no-circuit-owner', 'the entity does not own the circuit')
    .option('--segregation-code <nn>', '2 digits, for aux-3 notice numbers')
    .option('--no-segregation-code', 'none')
    .option('--pagopa', 'its debt positions live in pagoPA: its notices go to the node')
    .option('--no-pagopa', 'its notices are its own positions here (the default)')
    .action(async (id: string, o: Record<string, string | boolean | undefined>) => {
      await session(config(), true, async (x) => {
        const current = (await x.state()).entities.find((e) => e.id === id);
        const { id: _id, ...fields } = merged(current, {
          name: o.name, fiscalCode: o.fiscalCode, vatNumber: o.vatNumber, iban: o.iban, officeCode: o.officeCode,
          isCircuitOwner: o.circuitOwner, segregationCode: o.segregationCode, pagopa: o.pagopa,
        });
        void _id;
        const body = parsed(N.EntityBody, 'entities', fields);
        const r = await x.apply({ entities: [{ id, ...body }] });
        console.log(`entity ${id} ${counted(r.applied, 'entities')}`);
      });
    });
  entity
    .command('circuit-fee <id>')
    .description('add a circuit fee version from a future date (never retroactive)')
    .requiredOption('--from <YYYY-MM-DD>', 'effective from (after today)')
    .requiredOption('--cents <n>', 'fee per payment owed to the circuit owner', int('--cents'))
    .addOption(new Option('--mode <mode>', 'netted from the payout, or rebilled monthly').choices(['netted', 'rebilled']).makeOptionMandatory())
    .action(async (id: string, o: { from: string; cents: number; mode: string }) => {
      await session(config(), true, async (x) => {
        const body = parsed(N.CircuitFeeBody, 'circuitFees', { effectiveFrom: o.from, feeCents: o.cents, mode: o.mode });
        const r = await x.apply({ circuitFees: [{ entityId: id, ...body }] });
        console.log(`circuit fee of ${id} from ${o.from}: ${counted(r.applied, 'circuitFees')}`);
      });
    });
}

function serviceCommands(program: Command, config: () => Config): void {
  const service = program.command('service').description('services: entity, identifier kind, amount rule and its parameters, enabled');
  service
    .command('list')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      print((await session(config(), false, (x) => x.state())).services, o.json);
    });
  service
    .command('set <code>')
    .description('create a service, or change the fields given')
    .option('--name <name>')
    .option('--entity <id>', 'the entity it collects for')
    .option('--amount-kind <kind>', 'L looked up, F fixed, C computed, S self-assessed')
    .option('--identifier-kind <kind>', 'notice, plate, fiscal_code, ... (docs/network-admin.md)')
    .option('--rule <rule>', 'multa or bollo')
    .option('--no-rule', 'no amount rule')
    .option('--fixed-cents <n>', 'amount kind F', int('--fixed-cents'))
    .option('--min-cents <n>', 'amount kind S', int('--min-cents'))
    .option('--max-cents <n>', 'amount kind S', int('--max-cents'))
    .action(async (code: string, o: Record<string, string | number | boolean | undefined>) => {
      await session(config(), true, async (x) => {
        const current = (await x.state()).services.find((s) => s.code === code);
        const { code: _code, ...fields } = merged(current, {
          name: o.name, entityId: o.entity, amountKind: o.amountKind, identifierKind: o.identifierKind, rule: o.rule,
          fixedCents: o.fixedCents, minCents: o.minCents, maxCents: o.maxCents,
        });
        void _code;
        const body = parsed(N.ServiceBody, 'services', fields);
        const r = await x.apply({ services: [{ code, ...body, enabled: body.enabled ?? true }] });
        console.log(`service ${code} ${counted(r.applied, 'services')}`);
      });
    });
  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    service
      .command(`${verb} <code>`)
      .description(enabled ? 'enable a service' : 'disable a service: terminals are refused it')
      .action(async (code: string) => {
        await session(config(), true, async (x) => {
          const current = (await x.state()).services.find((s) => s.code === code);
          if (!current) throw new Error(`no service ${code}`);
          await x.apply({ services: [{ ...current, enabled }] });
          console.log(`service ${code} ${verb}d`);
        });
      });
  }
}

/** '--tiers 5000:100,20000:150,*:200': up to each amount (cents; * the rest), the fee. */
function tiers(v: string): { upToCents: number | null; cents: number }[] {
  return v.split(',').map((t) => {
    const m = /^(\d+|\*):(\d+)$/.exec(t.trim());
    if (!m) throw new InvalidArgumentError('--tiers: upTo:cents pairs separated by commas, the last *:cents');
    return { upToCents: m[1] === '*' ? null : Number(m[1]), cents: Number(m[2]) };
  });
}

function feeCommands(program: Command, config: () => Config): void {
  const fee = program.command('fee').description('fee schedules: versions by date, per service and counter kind');
  fee
    .command('list')
    .option('--service <code>', 'only this service')
    .addOption(new Option('--counter-kind <kind>', 'only this counter kind').choices(COUNTER_KINDS))
    .option('--json', 'print JSON')
    .action(async (o: { service?: string; counterKind?: string; json?: boolean }) => {
      const s = await session(config(), false, (x) => x.state());
      const rows = s.feeSchedules.filter((f) => (!o.service || f.serviceCode === o.service) && (!o.counterKind || f.counterKind === o.counterKind));
      print(rows, o.json, ['serviceCode', 'counterKind', 'effectiveFrom', 'feeRule', 'commissionRate', 'royaltyCents']);
    });
  fee
    .command('add')
    .description('add a fee schedule version from a future date (never retroactive); give one of --fixed, --percent, --tiers')
    .requiredOption('--service <code>')
    .addOption(new Option('--counter-kind <kind>').choices(COUNTER_KINDS).makeOptionMandatory())
    .requiredOption('--from <YYYY-MM-DD>', 'effective from (after today)')
    .option('--fixed <cents>', 'a fixed fee', int('--fixed'))
    .option('--percent <rate>', 'a share of the amount, e.g. 0.015, between --min-cents and --max-cents')
    .option('--min-cents <n>', 'with --percent', int('--min-cents'))
    .option('--max-cents <n>', 'with --percent', int('--max-cents'))
    .option('--tiers <list>', 'e.g. 5000:100,20000:150,*:200', tiers)
    .requiredOption('--commission-rate <rate>', "the counter's share of (fee - royalty), e.g. 0.6")
    .requiredOption('--royalty-cents <n>', 'royalty per payment', int('--royalty-cents'))
    .action(async (o: { service: string; counterKind: string; from: string; fixed?: number; percent?: string; minCents?: number; maxCents?: number; tiers?: ReturnType<typeof tiers>; commissionRate: string; royaltyCents: number }) => {
      const rules = [
        o.fixed !== undefined && { type: 'fixed', cents: o.fixed },
        o.percent !== undefined && { type: 'percent', rate: o.percent, minCents: o.minCents, maxCents: o.maxCents },
        o.tiers !== undefined && { type: 'tiers', tiers: o.tiers },
      ].filter(Boolean);
      if (rules.length !== 1) throw new Error('give exactly one of --fixed, --percent, --tiers');
      await session(config(), true, async (x) => {
        const body = parsed(N.FeeScheduleBody, 'feeSchedules', {
          serviceCode: o.service, counterKind: o.counterKind, effectiveFrom: o.from, feeRule: rules[0], commissionRate: o.commissionRate, royaltyCents: o.royaltyCents,
        });
        const r = await x.apply({ feeSchedules: [body as FeeScheduleInput] });
        console.log(`fee of ${o.service} at ${o.counterKind} from ${o.from}: ${counted(r.applied, 'feeSchedules')}`);
      });
    });
}

function counterOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--kind <kind>').choices(COUNTER_KINDS))
    .option('--name <name>')
    .option('--address <address>')
    .option('--town <town>')
    .option('--iban <iban>', 'the account the SDD collects from')
    .option('--mandate-ref <ref>', 'SEPA direct-debit mandate reference')
    .option('--credit-limit-cents <n>', 'credit limit', int('--credit-limit-cents'));
}
type CounterOptions = { id?: string; kind?: string; name?: string; address?: string; town?: string; iban?: string; mandateRef?: string; creditLimitCents?: number };
const counterFields = (o: CounterOptions) => ({ kind: o.kind, name: o.name, address: o.address, town: o.town, iban: o.iban, mandateRef: o.mandateRef, creditLimitCents: o.creditLimitCents });

function counterCommands(program: Command, config: () => Config): void {
  const counter = program.command('counter').description('counters: kind, name, address, IBAN, SDD mandate, credit limit, status');
  counter
    .command('list')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(COUNTER_KINDS))
    .option('--json', 'print JSON')
    .action(async (o: { kind?: string; json?: boolean }) => {
      const s = await session(config(), false, (x) => x.state());
      print(s.counters.filter((c) => !o.kind || c.kind === o.kind), o.json);
    });
  counterOptions(counter.command('add').description('create a counter').option('--id <id>', 'default: the next C number')).action(async (o: CounterOptions) => {
    await session(config(), true, async (x) => {
      const counters = (await x.state()).counters;
      const id = o.id ?? nextCounterId(counters);
      if (counters.some((c) => c.id === id)) throw new Error(`counter ${id} exists: change it with tserve counter set ${id}`);
      const body = parsed(N.CounterCreate, 'counters', { id, ...counterFields(o) });
      await x.apply({ counters: [{ ...body, id, kind: body.kind as CounterInput['kind'], status: 'active' }], mustBeNew: ['counters'] });
      console.log(`counter ${id} created`);
    });
  });
  counterOptions(counter.command('set <id>').description('change the fields given of a counter')).action(async (id: string, o: CounterOptions) => {
    await session(config(), true, async (x) => {
      const current = (await x.state()).counters.find((c) => c.id === id);
      if (!current) throw new Error(`no counter ${id}`);
      const { id: _id, ...fields } = merged(current, counterFields(o));
      void _id;
      const body = parsed(N.CounterUpdate, 'counters', fields);
      const r = await x.apply({ counters: [{ ...body, id, kind: body.kind as CounterInput['kind'], status: body.status ?? current.status }] });
      console.log(`counter ${id} ${counted(r.applied, 'counters')}`);
    });
  });
  for (const [verb, status] of [['suspend', 'suspended'], ['reactivate', 'active']] as const) {
    counter
      .command(`${verb} <id>`)
      .description(status === 'suspended' ? "suspend a counter: its terminals are refused" : 'reactivate a suspended counter')
      .action(async (id: string) => {
        await session(config(), true, async (x) => {
          const current = (await x.state()).counters.find((c) => c.id === id);
          if (!current) throw new Error(`no counter ${id}`);
          await x.apply({ counters: [{ ...current, status }] });
          console.log(`counter ${id} ${status}`);
        });
      });
  }
}

function terminalCommands(program: Command, config: () => Config): void {
  const terminals = program.command('terminals').description('provisioning of terminals (`tserve terminal` is the simulator)');
  terminals
    .command('list')
    .option('--counter <id>', 'only this counter')
    .option('--json', 'print JSON')
    .action(async (o: { counter?: string; json?: boolean }) => {
      const s = await session(config(), false, (x) => x.state());
      print(s.terminals.filter((t) => !o.counter || t.counterId === o.counter), o.json);
    });
  terminals
    .command('add')
    .description('a new terminal of a counter: prints its TMK and its API secret, this once')
    .requiredOption('--counter <id>', 'the counter it belongs to')
    .option('--id <id>', 'the terminal id (default: the next T number)')
    .action(async (o: { counter: string; id?: string }) => {
      await session(config(), true, async (x) => {
        const id = o.id ?? (await x.rt.store.nextTerminalId());
        // Re-adding an existing terminal would only set its status (an unblock): refused instead.
        if ((await x.state()).terminals.some((t) => t.id === id)) throw new Error(`terminal ${id} exists: its keys are never shown again (tserve credentials rotate-tmk / rotate-secret)`);
        const r = await x.apply({ terminals: [{ id, counterId: o.counter, status: 'active' }], mustBeNew: ['terminals'] });
        const t = r.credentials.terminals.find((c) => c.terminalId === id)!;
        console.log(`terminal ${t.terminalId} of counter ${t.counterId}\ntmk: ${t.tmk}\napiSecret: ${t.apiSecret}\n(shown this once; keep them apart)`);
      });
    });
  for (const [verb, status] of [['block', 'blocked'], ['unblock', 'active']] as const) {
    terminals
      .command(`${verb} <id>`)
      .description(status === 'blocked' ? 'block a terminal' : 'unblock a terminal')
      .action(async (id: string) => {
        await session(config(), true, async (x) => {
          const current = (await x.state()).terminals.find((t) => t.id === id);
          if (!current) throw new Error(`no terminal ${id}`);
          await x.apply({ terminals: [{ ...current, status }] });
          console.log(`terminal ${id} ${status}`);
        });
      });
  }
}

export function addNetworkCommands(program: Command, config: () => Config): void {
  entityCommands(program, config);
  serviceCommands(program, config);
  feeCommands(program, config);
  counterCommands(program, config);
  terminalCommands(program, config);
  // `tserve user add|disable|enable` are in cli.ts; list joins them.
  const user = program.commands.find((c) => c.name() === 'user') ?? program.command('user');
  user
    .command('list')
    .description('users with their role and entity')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const rows = await session(config(), false, async (x) => {
        const users = (await x.state()).users;
        return Promise.all(users.map(async (u) => ({ ...u, disabled: (await x.rt.store.getUser(u.username))?.disabled ?? false })));
      });
      print(rows, o.json, ['username', 'role', 'entityId', 'disabled']);
    });
}
