import type { Config } from 'jest';

const swc = [
  '@swc/jest',
  { jsc: { parser: { syntax: 'typescript', decorators: true }, target: 'es2022', transform: { decoratorVersion: '2022-03' } } },
] as const;

const moduleNameMapper = {
  '^@ratekeeper/core$': '<rootDir>/packages/core/src/index.ts',
  '^@ratekeeper/core/redis$': '<rootDir>/packages/core/src/redis.ts',
  '^@ratekeeper/core/http$': '<rootDir>/packages/core/src/http.ts',
  '^@ratekeeper/(express|fastify|koa)$': '<rootDir>/packages/$1/src/index.ts',
};

// `pnpm test:unit` (RK_UNIT=1): every suite that needs no Redis server, and none is started.
const unit = process.env.RK_UNIT === '1';
const REDIS_SUITES = [
  '<rootDir>/packages/core/test/redis/',
  '<rootDir>/packages/core/test/throttle/redis-',
  '<rootDir>/test/conformance/redis-store',
  '<rootDir>/examples/redis-cluster/',
];

const config: Config = {
  rootDir: process.cwd(),
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)sx?$': swc as unknown as [string, Record<string, unknown>] },
  moduleNameMapper,
  testMatch: ['<rootDir>/packages/*/test/**/*.test.ts', '<rootDir>/examples/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', ...(unit ? REDIS_SUITES : [])],
  ...(unit ? {} : { globalSetup: '<rootDir>/scripts/jest-global-setup.ts', globalTeardown: '<rootDir>/scripts/jest-global-teardown.ts' }),
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default config;
