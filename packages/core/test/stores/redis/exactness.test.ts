import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ALGORITHMS } from '../../../src/rules';
import { clusterPorts, redisPort, uniquePrefix } from './helpers';

// Exactness under real concurrency: separate OS processes, each with its own connection, race on
// the same keys. Atomic scripts must admit exactly the limit, never one more.

const run = promisify(execFile);
const CHILD = join(__dirname, 'fixtures', 'consume-child.ts');

interface ChildResult {
  allowed: Record<string, number>;
  errors: number;
}

async function fire(mode: 'standalone' | 'cluster', limit: number, perKey: number, keys: string[]): Promise<ChildResult[]> {
  const ports = mode === 'cluster' ? clusterPorts().join(',') : String(redisPort());
  const prefix = uniquePrefix(`exact-${mode}`);
  const args = [mode, ports, prefix, String(limit), String(perKey), keys.join(','), ALGORITHMS.join(',')];
  const children = Array.from({ length: 4 }, () =>
    run(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: process.cwd(), timeout: 60_000, maxBuffer: 64 << 20 }),
  );
  return (await Promise.all(children)).map((c) => JSON.parse(c.stdout) as ChildResult);
}

function total(results: ChildResult[], id: string): number {
  return results.reduce((n, r) => n + (r.allowed[id] ?? 0), 0);
}

describe('exactly the limit under concurrency from 4 processes', () => {
  it('standalone: 4 processes x 250 concurrent consumes on one key, limit 100: exactly 100 allowed (every algorithm)', async () => {
    const results = await fire('standalone', 100, 250, ['hot']);
    expect(results.reduce((n, r) => n + r.errors, 0)).toBe(0);
    for (const algorithm of ALGORITHMS) expect([algorithm, total(results, `${algorithm}/hot`)]).toEqual([algorithm, 100]);
  }, 60_000);

  it('Cluster (3 masters): 4 processes x 3 concurrent consumes on each of 1,000 random keys, limit 5: exactly 5 per key', async () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `${i}-${Math.random().toString(36).slice(2)}`);
    const results = await fire('cluster', 5, 3, keys);
    expect(results.reduce((n, r) => n + r.errors, 0)).toBe(0);
    const wrong: string[] = [];
    for (const algorithm of ALGORITHMS)
      for (const k of keys) if (total(results, `${algorithm}/${k}`) !== 5) wrong.push(`${algorithm}/${k}`);
    expect(wrong).toEqual([]);
  }, 60_000);
});
