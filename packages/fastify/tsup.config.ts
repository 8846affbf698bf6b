import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', compat: 'src/compat.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  splitting: false,
  outExtension: ({ format }) => ({ js: format === 'esm' ? '.mjs' : '.cjs' }),
  // @fastify/rate-limit's CommonJS shape for `/compat`: `require()` returns the plugin itself, with
  // `default`, `fastifyRateLimit` and `normalizeIP` on it. Only an entry whose default export is a
  // function (the compat one) is changed; `index` has no default export.
  footer: ({ format }) =>
    format === 'cjs'
      ? { js: "if (typeof module.exports.default === 'function') module.exports = Object.assign(module.exports.default, module.exports);" }
      : undefined,
});
