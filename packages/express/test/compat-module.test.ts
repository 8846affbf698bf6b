// @ratekeeper/express/compat: express-rate-limit's module shape, on the output of the package's
// own tsup configuration (tsup.config.ts, with @ratekeeper/core bundled in so that the build runs
// alone from a temporary folder), loaded by a real Node process with require() and import().
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..');
let out: string;

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'rk-compat-'));
  // tsup runs in its own Node process (tsx loads the TypeScript configuration), as in `pnpm build`.
  const script = `
    const { build } = await import('tsup');
    const { default: config } = await import(${JSON.stringify(join(root, 'tsup.config.ts'))});
    await build({
      ...config,
      entry: { compat: ${JSON.stringify(join(root, 'src', 'compat.ts'))} },
      outDir: ${JSON.stringify(out)},
      dts: false,
      silent: true,
      noExternal: [/^@ratekeeper\\/core/],
      tsconfig: ${JSON.stringify(join(root, 'tsconfig.json'))},
    });`;
  execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: join(root, '..', '..'), stdio: 'pipe' });
}, 60_000);

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

/** What a script prints, run by Node in the build folder. */
function node(args: string[]): unknown {
  return JSON.parse(execFileSync(process.execPath, args, { cwd: out, encoding: 'utf8' }));
}

const describeModule = `
  const names = ['rateLimit', 'default', 'MemoryStore', 'ipKeyGenerator', 'SECOND', 'MINUTE', 'HOUR', 'DAY'];
  const shape = (m) => ({
    type: typeof m,
    names: Object.fromEntries(names.map((n) => [n, typeof m[n]])),
    selfDefault: m.default === m.rateLimit,
    middleware: typeof m.rateLimit({ validate: false }),
    withKeys: typeof m.rateLimit().getKey,
    minute: m.MINUTE,
  });
`;

it('require() returns the rateLimit function itself, with the named exports and default on it', () => {
  const shape = node([
    '-e',
    `${describeModule}
    const m = require('./compat.cjs');
    console.log(JSON.stringify({ ...shape(m), callable: typeof m({ limit: 1 }), isRateLimit: m === m.rateLimit && m === m.default }));`,
  ]);
  expect(shape).toEqual({
    type: 'function',
    names: {
      rateLimit: 'function',
      default: 'function',
      MemoryStore: 'function',
      ipKeyGenerator: 'function',
      SECOND: 'number',
      MINUTE: 'number',
      HOUR: 'number',
      DAY: 'number',
    },
    selfDefault: true,
    middleware: 'function',
    withKeys: 'function',
    minute: 60_000,
    callable: 'function',
    isRateLimit: true,
  });
});

it('import gives the default export and the named ones (ESM build)', () => {
  const shape = node([
    '--input-type=module',
    '-e',
    `${describeModule}
    const m = await import('./compat.mjs');
    console.log(JSON.stringify({ ...shape(m), defaultIsRateLimit: m.default === m.rateLimit }));`,
  ]);
  expect(shape).toMatchObject({ type: 'object', selfDefault: true, middleware: 'function', defaultIsRateLimit: true });
});

it('the CommonJS module limits requests as the ESM one does', () => {
  const result = node([
    '-e',
    `const rateLimit = require('./compat.cjs');
    const limiter = rateLimit({ limit: 1, keyGenerator: () => 'k' });
    const statuses = [];
    const run = () => new Promise((resolve) => {
      const res = { statusCode: 200, headersSent: false, writableEnded: false, setHeader() {}, status(c) { this.statusCode = c; return this; }, send() { statuses.push(this.statusCode); resolve(); } };
      limiter({ app: { get: () => false }, headers: {} }, res, () => { statuses.push(200); resolve(); });
    });
    run().then(run).then(() => console.log(JSON.stringify(statuses)));`,
  ]);
  expect(result).toEqual([200, 429]);
});
