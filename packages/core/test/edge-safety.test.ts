import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { emitWarning } from '../src/warn';

const SRC = join(__dirname, '..', 'src');
// Redis is reached only through `@ratekeeper/core/redis`, and the test helpers (node:assert) through
// `@ratekeeper/core/testing`: Node-only entry points (Bun and Deno implement what they use).
const NODE_ONLY = [/^stores\/redis\//, /^redis\.ts$/, /^testing\//, /^testing\.ts$/];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('edge runtimes (workerd, Next.js edge, browsers)', () => {
  it('the root and /http entry points import no node: module and name no `process.` API', () => {
    const offenders: string[] = [];
    for (const file of sources(SRC)) {
      const rel = relative(SRC, file);
      if (NODE_ONLY.some((re) => re.test(rel))) continue;
      const code = readFileSync(file, 'utf8').replace(/^\s*(\/\/|\*).*$/gm, '');
      if (/from ['"]node:|require\(['"]node:|\bprocess\.\w/.test(code)) offenders.push(rel);
    }
    expect(offenders).toEqual([]);
  });

  it('warnings go to console.warn where there is no process', () => {
    const g = globalThis as { process?: unknown };
    const saved = g.process;
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      g.process = undefined;
      emitWarning('ratekeeper: test', 'RATEKEEPER_TEST');
      expect(warn).toHaveBeenCalledWith('(RATEKEEPER_TEST) ratekeeper: test');
    } finally {
      g.process = saved;
      warn.mockRestore();
    }
  });
});
