import type { Config } from 'jest';

const swc = [
  '@swc/jest',
  { jsc: { parser: { syntax: 'typescript', decorators: true }, target: 'es2022', transform: { decoratorVersion: '2022-03' } } },
] as const;

const moduleNameMapper = {
  '^@ratekeeper/core$': '<rootDir>/packages/core/src/index.ts',
  '^@ratekeeper/core/redis$': '<rootDir>/packages/core/src/redis.ts',
  '^@ratekeeper/(express|fastify|koa)$': '<rootDir>/packages/$1/src/index.ts',
};

const config: Config = {
  rootDir: process.cwd(),
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)sx?$': swc as unknown as [string, Record<string, unknown>] },
  moduleNameMapper,
  testMatch: ['<rootDir>/packages/*/test/**/*.test.ts', '<rootDir>/examples/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  globalSetup: '<rootDir>/scripts/jest-global-setup.ts',
  globalTeardown: '<rootDir>/scripts/jest-global-teardown.ts',
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default config;
