// Per-answer samples written by `tserve terminal load --samples FILE` (one line
// `sentAtEpochMs,latencyMs,code` per answer), and latency over a time window of them:
// the payments sent while something else ran on the server (a settlement, a bulk import).
import { readFileSync } from 'node:fs';

export interface Samples {
  sentAt: number[];
  latency: number[];
  code: string[];
}

export function readSamples(file: string): Samples {
  const s: Samples = { sentAt: [], latency: [], code: [] };
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (!l) continue;
    const [a, b, c] = l.split(',');
    s.sentAt.push(Number(a));
    s.latency.push(Number(b));
    s.code.push(c ?? '');
  }
  return s;
}

export interface WindowLatency {
  /** Answers to requests sent in the window. */
  count: number;
  p50: number;
  p99: number;
  max: number;
  byCode: Record<string, number>;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Latency (ms) of the requests sent in [fromMs, toMs] (epoch ms), whatever their answer. */
export function windowLatency(s: Samples, fromMs: number, toMs: number): WindowLatency {
  const lat: number[] = [];
  const byCode: Record<string, number> = {};
  for (let i = 0; i < s.sentAt.length; i++) {
    const t = s.sentAt[i]!;
    if (t < fromMs || t > toMs) continue;
    lat.push(s.latency[i]!);
    byCode[s.code[i]!] = (byCode[s.code[i]!] ?? 0) + 1;
  }
  lat.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { count: lat.length, p50: r(percentile(lat, 50)), p99: r(percentile(lat, 99)), max: r(lat.at(-1) ?? NaN), byCode };
}
