// The alert rules and the dashboard in deploy/ stay true (issue 13): promtool checks the
// rules and runs their unit tests (deploy/prometheus/tserve-alerts.test.yml), checks
// that every dashboard query parses, and every metric either names is one a started
// switch serves on /metrics. promtool comes with Debian's `prometheus` package (.ci/run
// installs it); without it those checks are skipped, saying so.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectFile } from '../../src/paths.js';
import { startSwitch, type Switch } from '../stream/support.js';

const RULES_DIR = projectFile('deploy/prometheus');
const RULES = path.join(RULES_DIR, 'tserve-alerts.yml');
const DASHBOARD = projectFile('deploy/grafana/tserve-dashboard.json');

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
if (!promtool) console.log('test/deploy/alerts.test.ts: promtool not on PATH (Debian: apt-get install prometheus): rule checks skipped');
const withPromtool = promtool ? it : it.skip;

function run(args: string[], cwd: string): string {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  expect(r.status, `promtool ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

interface Panel {
  title?: string;
  targets?: { expr: string }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; templating: { list: { definition?: string }[] } };
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? '', expr: t.expr })));

/** The tserve metric names a text uses (histograms by their series: _bucket, _sum, _count). */
const namesIn = (text: string): Set<string> => new Set(text.match(/\btserve_[a-z0-9_]+\b/g) ?? []);

describe('Prometheus rules', () => {
  withPromtool('pass promtool check rules', () => {
    expect(run(['check', 'rules', RULES], RULES_DIR)).toContain('SUCCESS');
  });

  withPromtool('pass their unit tests: each alert fires where it should and stays quiet next to it', () => {
    expect(run(['test', 'rules', 'tserve-alerts.test.yml'], RULES_DIR)).toContain('SUCCESS');
  });

  it('have a runbook line in docs/observability.md for every alert', () => {
    const doc = readFileSync(projectFile('docs/observability.md'), 'utf8').toLowerCase();
    const anchors = [...readFileSync(RULES, 'utf8').matchAll(/runbook: "docs\/observability\.md#([a-z]+)"/g)].map((m) => m[1]!);
    expect(anchors.length).toBeGreaterThan(5);
    for (const a of new Set(anchors)) expect(doc, a).toMatch(new RegExp(`^#+ ${a}\\b`, 'm'));
  });
});

describe('Grafana dashboard', () => {
  it('has panels with queries, on the ${DS_PROMETHEUS} input', () => {
    expect(dashboardExprs.length).toBeGreaterThan(15);
    expect(readFileSync(DASHBOARD, 'utf8')).toContain('"uid": "${DS_PROMETHEUS}"');
  });

  withPromtool('queries all parse (checked by promtool as recording rules)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-dashboard-'));
    try {
      const concrete = (e: string) => e.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '5m');
      const rules = dashboardExprs.map((d, i) => `      - record: dashboard:check_${i}\n        expr: ${JSON.stringify(concrete(d.expr))}`);
      writeFileSync(path.join(dir, 'dashboard.yml'), `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      run(['check', 'rules', 'dashboard.yml'], dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('metric names in the rules and the dashboard', () => {
  let sw: Switch;
  let served: Set<string>;

  beforeAll(async () => {
    sw = await startSwitch({ TSERVE_SEED_POSITIONS: '50' });
    const res = await fetch(`${sw.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    // Every family is announced by its TYPE line, samples or not (a labelled histogram
    // with no observation yet has none); a histogram's series add _bucket, _sum, _count.
    served = new Set<string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      served.add(m[1]!);
      if (m[2] === 'histogram' || m[2] === 'summary') for (const s of ['_bucket', '_sum', '_count']) served.add(m[1]! + s);
    }
  });

  afterAll(async () => {
    await sw?.close();
  });

  it('are all served by the switch on /metrics', () => {
    const used = new Map<string, string>();
    for (const n of namesIn(readFileSync(RULES, 'utf8'))) used.set(n, 'tserve-alerts.yml');
    for (const d of dashboardExprs) for (const n of namesIn(d.expr)) used.set(n, `dashboard panel "${d.panel}"`);
    for (const t of dashboard.templating.list) for (const n of namesIn(t.definition ?? '')) used.set(n, 'dashboard variable');
    expect(used.size).toBeGreaterThan(15);
    const missing = [...used].filter(([n]) => !served.has(n)).map(([n, where]) => `${n} (${where})`);
    expect(missing).toEqual([]);
  });

  it('are the ones the rules\' unit tests feed', () => {
    // The unit tests feed series by name: a renamed metric must fail them, not pass them vacuously.
    const inTests = namesIn(readFileSync(path.join(RULES_DIR, 'tserve-alerts.test.yml'), 'utf8'));
    for (const n of inTests) expect(served.has(n), n).toBe(true);
  });
});
