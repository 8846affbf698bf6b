import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLimiter } from '@ratekeeper/core';
import { manualClock } from '@ratekeeper/core/testing';
import { type Instrumentation, instrument } from '@ratekeeper/prometheus';
import { Registry } from 'prom-client';
import { parseExposition, switchableStore } from './helpers';

// docs/grafana-dashboard.json and the alert rules of docs/observability.md query metrics by name:
// every name and label they use must be one this package exposes, so a rename fails here, not
// on someone's empty dashboard.

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's import placeholder, not a template
const DS_UID = '${DS_PROMETHEUS}';
const ROOT = join(__dirname, '..', '..', '..');
const dashboard = JSON.parse(readFileSync(join(ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as Dashboard;
const guide = readFileSync(join(ROOT, 'docs', 'observability.md'), 'utf8');

interface Target {
  expr: string;
  datasource: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: { uid: string };
  targets: Target[];
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; query: { query: string }; definition: string; allValue: string }[] };
}

// PromQL words that are not metric names: aggregations and functions are followed by `(` and are
// dropped with it; these are the rest.
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/** Metric names and label names a PromQL expression uses (Grafana's `$variables` aside). */
function references(expr: string): { metrics: Set<string>; labels: Set<string> } {
  const labels = new Set<string>();
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  // Matchers: {name="", name=~""} → the label names.
  rest = rest.replace(/\{([^}]*)\}/g, (_, body: string) => {
    for (const m of body.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) labels.add(m[1] ?? '');
    return ' ';
  });
  // by (...), without (...), on (...), ignoring (...), group_left (...) → label names.
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw: string, list: string) => {
    for (const l of list.split(',')) if (l.trim() !== '') labels.add(l.trim());
    return ' ';
  });
  rest = rest
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries: [5m], [$__range:1m]
    .replace(/\$\w+/g, ' ') // Grafana variables
    .replace(/\b[a-zA-Z_]\w*\s*\(/g, '('); // functions and aggregations
  const metrics = new Set<string>();
  for (const m of rest.matchAll(/\b[a-zA-Z_:][\w:]*\b/g)) if (!KEYWORDS.has(m[0].toLowerCase())) metrics.add(m[0]);
  return { metrics, labels };
}

/** Every metric (sample) name and label name the package exposes, read from a real scrape. */
async function exposed(): Promise<{ names: Set<string>; labels: Set<string> }> {
  const registry = new Registry();
  const handle: Instrumentation = instrument({ registry });
  try {
    const clock = manualClock();
    const { store, down } = switchableStore();
    const limiter = createLimiter({ name: 'd', limit: 1, window: '1m', store, now: clock.now, onError: () => {} });
    await limiter.consume('k');
    down.value = true;
    await limiter.consume('k');
    down.value = false;
    clock.advance(1000);
    await limiter.consume('k');
    const samples = parseExposition(await registry.metrics());
    return { names: new Set(samples.map((s) => s.name)), labels: new Set(samples.flatMap((s) => Object.keys(s.labels))) };
  } finally {
    handle.uninstrument();
  }
}

const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
/** The `expr:` lines of the guide's yaml blocks (the example alert rules). */
const alertExprs = [...guide.matchAll(/```ya?ml\n([\s\S]*?)```/g)]
  .flatMap((block) => [...(block[1] ?? '').matchAll(/^\s*expr:\s*(.+)$/gm)])
  .map((m) => ({ where: 'docs/observability.md', expr: (m[1] ?? '').trim() }));

describe('docs/grafana-dashboard.json and the alert rules of docs/observability.md', () => {
  let known: { names: Set<string>; labels: Set<string> };
  beforeAll(async () => {
    known = await exposed();
  });

  it('the reference extractor sees metric and label names, not functions, keywords or variables', () => {
    const r = references(
      'histogram_quantile(0.99, sum by (le, limiter) (rate(x_bucket{limiter=~"$limiter", outcome!="a,b"}[$__rate_interval]))) / on (limiter) group_left y > bool 0 or vector(0)',
    );
    expect([...r.metrics].sort()).toEqual(['x_bucket', 'y']);
    expect([...r.labels].sort()).toEqual(['le', 'limiter', 'outcome']);
  });

  it('the scrape exposes the four metrics (histogram as _bucket, _sum, _count)', () => {
    expect([...known.names].sort()).toEqual([
      'ratekeeper_decisions_total',
      'ratekeeper_store_duration_seconds_bucket',
      'ratekeeper_store_duration_seconds_count',
      'ratekeeper_store_duration_seconds_sum',
      'ratekeeper_store_errors_total',
      'ratekeeper_store_recoveries_total',
    ]);
  });

  it('every expression queries only metric names and labels the package exposes', () => {
    expect(exprs.length).toBeGreaterThanOrEqual(8);
    expect(alertExprs.length).toBeGreaterThanOrEqual(4);
    const problems: string[] = [];
    for (const { where, expr } of [...exprs, ...alertExprs]) {
      const { metrics, labels } = references(expr);
      if (metrics.size === 0) problems.push(`${where}: no metric in ${expr}`);
      for (const m of metrics) if (!known.names.has(m)) problems.push(`${where}: unknown metric ${m} in ${expr}`);
      for (const l of labels) if (!known.labels.has(l)) problems.push(`${where}: unknown label ${l} in ${expr}`);
    }
    expect(problems).toEqual([]);
  });

  it('the limiter variable lists a label of a metric the package exposes; every query filters by it', () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'limiter');
    expect(variable?.query.query).toBe('label_values(ratekeeper_decisions_total, limiter)');
    expect(variable?.definition).toBe(variable?.query.query);
    expect(known.names.has('ratekeeper_decisions_total') && known.labels.has('limiter')).toBe(true);
    // `.*` for All also matches limiters without a name (limiter="").
    expect(variable?.allValue).toBe('.*');
    for (const { where, expr } of exprs) expect(`${where}: ${expr}`).toContain('limiter=~"$limiter"');
  });

  it('is importable: a DS_PROMETHEUS input used by every panel and query, schemaVersion 39, unique ids', () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    expect(dashboard.schemaVersion).toBe(39);
    for (const p of dashboard.panels) {
      expect(p.datasource.uid).toBe(DS_UID);
      for (const t of p.targets) expect(t.datasource.uid).toBe(DS_UID);
    }
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('has the panels the guide describes, the limited ratio per rule among them', () => {
    expect(dashboard.panels.map((p) => p.title)).toEqual([
      'Decisions/s by outcome',
      'Limited ratio per rule',
      'Degraded decisions/s (store failing)',
      'Time spent failing open',
      'Store latency p50 / p99',
      'Store errors/s by operation',
      'Store recoveries',
    ]);
    const ratio = dashboard.panels.find((p) => p.title === 'Limited ratio per rule')?.targets[0]?.expr;
    expect(ratio?.replaceAll(', limiter=~"$limiter"', '').replaceAll('{limiter=~"$limiter"}', '')).toBe(
      'sum by (rule) (rate(ratekeeper_decisions_total{outcome="limited"}[5m])) / sum by (rule) (rate(ratekeeper_decisions_total[5m]))',
    );
    for (const p of dashboard.panels) expect(guide).toContain(p.title);
  });
});
