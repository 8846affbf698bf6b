import type { Config } from 'jest';

const swc = [
  '@swc/jest',
  { jsc: { parser: { syntax: 'typescript', decorators: true }, target: 'es2022', transform: { decoratorVersion: '2022-03' } } },
] as const;

// NestJS apps (packages/nestjs/test, examples/nestjs) and the routing-controllers and tsoa apps
// (examples/class-routers) use TypeScript's legacy decorators with metadata, as those frameworks
// require; everything else uses the standard ones.
const swcLegacyDecorators = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      target: 'es2022',
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    },
  },
] as const;

const moduleNameMapper = {
  '^@ratekeeper/core$': '<rootDir>/packages/core/src/index.ts',
  '^@ratekeeper/core/redis$': '<rootDir>/packages/core/src/redis.ts',
  '^@ratekeeper/core/http$': '<rootDir>/packages/core/src/http.ts',
  '^@ratekeeper/core/testing$': '<rootDir>/packages/core/src/testing.ts',
  '^@ratekeeper/(express|fastify|koa|web|hono|nestjs|otel|prometheus)$': '<rootDir>/packages/$1/src/index.ts',
  '^@ratekeeper/(express|fastify|koa)/compat$': '<rootDir>/packages/$1/src/compat.ts',
};

/** Suites that need Redis (standalone, Cluster): the `integration` project; everything else is `unit`. */
const REDIS_SUITES = [
  '<rootDir>/packages/core/test/stores/redis/',
  '<rootDir>/packages/core/test/throttle/redis-',
  '<rootDir>/packages/core/test/concurrency/redis-',
  '<rootDir>/packages/core/test/adaptive/redis-',
  '<rootDir>/test/conformance/redis-store',
  '<rootDir>/examples/redis-cluster/',
  '<rootDir>/packages/nestjs/test/redis-',
  '<rootDir>/packages/otel/test/redis-',
  '<rootDir>/packages/prometheus/test/redis-',
  '<rootDir>/packages/express/test/compat-redis',
  '<rootDir>/packages/koa/test/compat-redis',
  '<rootDir>/packages/fastify/test/compat-redis',
  // RedisStore on Bun and Deno (test/runtimes/redis-bun.test.ts, redis-deno.test.ts).
  '<rootDir>/test/runtimes/redis-',
];

/**
 * The documentation site (test/docs/site*): builds it with `pnpm docs:build` and drives the
 * simulator in Chromium. Its own project, so `pnpm test:unit` stays fast; `pnpm test` runs it.
 */
const DOCS_SUITES = ['<rootDir>/test/docs/site'];

const base = {
  rootDir: process.cwd(),
  testEnvironment: 'node',
  transform: {
    '/(packages/nestjs/test|examples/nestjs|examples/class-routers)/.+\\.tsx?$': swcLegacyDecorators as unknown as [
      string,
      Record<string, unknown>,
    ],
    '^.+\\.(t|j)sx?$': swc as unknown as [string, Record<string, unknown>],
  },
  moduleNameMapper,
  testMatch: ['<rootDir>/packages/*/test/**/*.test.ts', '<rootDir>/examples/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
};

// `pnpm test:unit` runs `--selectProjects unit`: no Redis server is started (the global setup
// belongs to the integration project, and Jest runs it only when that project has tests to run).
const config: Config = {
  projects: [
    { ...base, displayName: 'unit', testPathIgnorePatterns: ['/node_modules/', '/dist/', ...REDIS_SUITES, ...DOCS_SUITES] },
    { ...base, displayName: 'docs', testMatch: DOCS_SUITES.map((p) => `${p}*.test.ts`) },
    {
      ...base,
      displayName: 'integration',
      testMatch: REDIS_SUITES.map((p) => (p.endsWith('/') ? `${p}**/*.test.ts` : `${p}*.test.ts`)),
      testPathIgnorePatterns: ['/node_modules/', '/dist/'],
      globalSetup: '<rootDir>/scripts/jest-global-setup.ts',
      globalTeardown: '<rootDir>/scripts/jest-global-teardown.ts',
    },
  ],
  // A global option: in a project's config Jest would ignore it (5 s per test).
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default config;
