// @ratekeeper/fastify/compat: @fastify/rate-limit's module shape, on the output of the package's own
// tsup configuration (tsup.config.ts, with @ratekeeper/core and fastify-plugin bundled in so that the
// build runs alone from a temporary folder), loaded by a real Node process with require() and import().
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..');
const fastify = require.resolve('fastify', { paths: [root] });
let out: string;

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'rk-fastify-compat-'));
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
      noExternal: [/^@ratekeeper\\/core/, 'fastify-plugin'],
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
  const shape = (m) => ({
    type: typeof m,
    plugin: typeof m.default,
    selfDefault: m.default === m.fastifyRateLimit,
    normalizeIP: typeof m.normalizeIP === 'function' ? m.normalizeIP('::ffff:192.0.2.1') : undefined,
    name: m.default[Symbol.for('fastify.display-name')],
  });
`;

it('require() returns the plugin itself, with default, fastifyRateLimit and normalizeIP on it', () => {
  const shape = node([
    '-e',
    `${describeModule}
    const m = require('./compat.cjs');
    console.log(JSON.stringify({ ...shape(m), isPlugin: m === m.default && m === m.fastifyRateLimit }));`,
  ]);
  expect(shape).toEqual({
    type: 'function',
    plugin: 'function',
    selfDefault: true,
    normalizeIP: '192.0.2.1',
    name: '@fastify/rate-limit',
    isPlugin: true,
  });
});

it('import gives the default export and the named ones (ESM build)', () => {
  const shape = node(['--input-type=module', '-e', `${describeModule} console.log(JSON.stringify(shape(await import('./compat.mjs'))));`]);
  expect(shape).toEqual({ type: 'object', plugin: 'function', selfDefault: true, normalizeIP: '192.0.2.1', name: '@fastify/rate-limit' });
});

it('the CommonJS module limits a Fastify app (fastify.inject, as the original is tested)', () => {
  const result = node([
    '-e',
    `const Fastify = require(${JSON.stringify(fastify)});
    const rateLimit = require('./compat.cjs');
    (async () => {
      const app = Fastify();
      await app.register(rateLimit, { max: 1, timeWindow: 1000 });
      app.get('/', async () => 'hello');
      const a = await app.inject('/');
      const b = await app.inject('/');
      await app.close();
      console.log(JSON.stringify([a.statusCode, b.statusCode, b.json().message, b.headers['retry-after']]));
    })();`,
  ]);
  expect(result).toEqual([200, 429, 'Rate limit exceeded, retry in 1 second', '1']);
});
