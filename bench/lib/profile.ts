// Summary of a V8 CPU profile (node --cpu-prof): self time by function, and by area.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './proc.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Busy time: everything but (idle). */
  busyMs: number;
  top: { fn: string; where: string; selfMs: number; pctBusy: number }[];
  areas: { area: string; selfMs: number; pctBusy: number }[];
}

function where(url: string, line: number): string {
  if (!url) return '';
  const rel = url.startsWith('file://') ? path.relative(ROOT, new URL(url).pathname) : url;
  return `${rel}:${line + 1}`;
}

/** What part of the system a frame belongs to. */
function area(fn: string, url: string): string {
  if (fn === '(idle)') return 'idle (waiting for I/O)';
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)') return 'V8/native (program)';
  if (url.includes('better-sqlite3') || (!url && /^(run|get|all|iterate|exec|prepare|pragma)$/.test(fn))) return 'SQLite (better-sqlite3 calls)';
  if (url.includes('/src/store/')) return 'store (JS around SQL)';
  if (url.includes('/terminals/')) return 'ISO 8583 (codec, framing, MAC, server)';
  if (url.includes('/src/payments/') || url.includes('/src/domain/') || url.includes('/src/ledger/')) return 'payments, domain, ledger (JS)';
  if (url.includes('/src/stream/') || url.includes('node_modules/ws/')) return 'WebSocket stream';
  if (url.includes('/src/http/') || url.includes('node_modules/express') || url.includes('node_modules/router') || url.includes('node_modules/body-parser')) return 'HTTP (express)';
  if (url.includes('node_modules/winston') || url.includes('node_modules/logform') || url.includes('/src/log.ts')) return 'logging';
  if (url.includes('node_modules/decimal.js')) return 'decimal.js';
  if (url.startsWith('node:')) return `node core (${url.replace(/^node:(internal\/)?/, '').split('/')[0]})`;
  if (!url) return `native (${fn || 'anonymous'})`;
  if (url.includes('node_modules/')) return `npm: ${url.split('node_modules/')[1]!.split('/')[0]}`;
  return 'other JS';
}

export function summariseProfile(file: string, topN = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const byFn = new Map<string, { fn: string; where: string; us: number; area: string }>();
  const byArea = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const fn = n.callFrame.functionName || '(anonymous)';
    const w = where(n.callFrame.url, n.callFrame.lineNumber);
    const key = `${fn}@${w}`;
    const a = area(fn, n.callFrame.url);
    const e = byFn.get(key) ?? { fn, where: w, us: 0, area: a };
    e.us += us;
    byFn.set(key, e);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
    total += us;
    if (fn === '(idle)') idle += us;
  }
  const busy = Math.max(1, total - idle);
  const pct = (us: number) => Math.round((1000 * us) / busy) / 10;
  return {
    file,
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    top: [...byFn.values()]
      .filter((e) => e.fn !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((e) => ({ fn: e.fn, where: e.where, selfMs: Math.round(e.us / 1000), pctBusy: pct(e.us) })),
    areas: [...byArea.entries()]
      .filter(([a]) => !a.startsWith('idle'))
      .sort((a, b) => b[1] - a[1])
      .map(([a, us]) => ({ area: a, selfMs: Math.round(us / 1000), pctBusy: pct(us) })),
  };
}
