import { MemoryStore, type Store } from '@ratekeeper/core';

/** One sample line of the Prometheus text exposition format: `name{label="value",...} value`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/**
 * Parses the text a `/metrics` endpoint serves (Prometheus 0.0.4 or OpenMetrics) into samples; `#`
 * lines (HELP, TYPE, EOF) are skipped. Throws on a line it cannot read, so a malformed exposition
 * fails the test instead of being half-read.
 */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`line ${i + 1} is not a sample: ${line}`);
    const [, name = '', body = '', raw = ''] = m;
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < body.length) {
      const start = LABEL.lastIndex;
      const l = LABEL.exec(body);
      if (l === null || LABEL.lastIndex === start) throw new Error(`line ${i + 1}: bad labels {${body}}`);
      const [, label = '', escaped = ''] = l;
      if (label in labels) throw new Error(`line ${i + 1}: label ${label} twice`);
      labels[label] = escaped.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`line ${i + 1}: bad value ${raw}`);
    samples.push({ name, labels, value });
  }
  return samples;
}

/** The samples of `name` whose labels include `match`. */
export function select(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the samples of `name` whose labels include `match` (0 when there is none). */
export function total(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number {
  return select(samples, name, match).reduce((sum, s) => sum + s.value, 0);
}

/**
 * Every series of `name` as `'label=value,...' → value` (labels sorted, `le` included), for
 * asserting a metric's full contents with one `toEqual`.
 */
export function series(samples: readonly Sample[], name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of select(samples, name)) {
    const id = Object.keys(s.labels)
      .sort()
      .map((k) => `${k}=${s.labels[k]}`)
      .join(',');
    out[id] = s.value;
  }
  return out;
}

/**
 * A MemoryStore that answers asynchronously, as a network store does, and fails while `down.value`
 * is true (a store without connection events).
 */
export function switchableStore(): { store: Store; down: { value: boolean } } {
  const down = { value: false };
  const inner = new MemoryStore();
  const store: Store = {
    bind(rules, prefix) {
      const bound = inner.bind(rules, prefix);
      const check = () => {
        if (down.value) throw new Error('store is down');
      };
      return {
        consume: async (key, cost, now) => {
          check();
          return bound.consume(key, cost, now);
        },
        peek: async (key, now) => {
          check();
          return bound.peek(key, now);
        },
        refund: (key, cost, now, at) => bound.refund(key, cost, now, at),
        reset: (key) => bound.reset(key),
      };
    },
  };
  return { store, down };
}
