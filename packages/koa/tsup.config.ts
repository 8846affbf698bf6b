import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', compat: 'src/compat.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  splitting: false,
  // `require('@ratekeeper/koa/compat')` is the middleware factory itself, as `require('koa-ratelimit')`
  // is: its CommonJS types say `export =` (tsup's cjsInterop), and its CommonJS build replaces
  // `module.exports` with the default export. tsup's own cjsInterop does that only for builds with
  // code splitting, which would also rewrite index.cjs.
  cjsInterop: true,
  plugins: [
    {
      name: 'compat-module-exports',
      renderChunk(code, chunk) {
        if (this.format !== 'cjs' || !chunk.path.endsWith('compat.cjs')) return;
        return { code: `${code}\nmodule.exports = module.exports.default;\n` };
      },
    },
  ],
  outExtension: ({ format }) => ({ js: format === 'esm' ? '.mjs' : '.cjs' }),
});
