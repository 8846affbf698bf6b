import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', http: 'src/http.ts', redis: 'src/redis.ts', testing: 'src/testing.ts' },
  format: ['esm', 'cjs'],
  // `@internal` members stay out of the shipped types (checked by test/published against the build).
  dts: { compilerOptions: { stripInternal: true } },
  clean: true,
  target: 'node20',
  splitting: false,
  treeshake: true,
  outExtension: ({ format }) => ({ js: format === 'esm' ? '.mjs' : '.cjs' }),
  external: ['ioredis'],
});
