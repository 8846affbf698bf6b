import { ConfigError } from '../errors/config-error';

/** The adapter package of each framework. */
const PACKAGES = {
  Express: '@ratekeeper/express',
  Fastify: '@ratekeeper/fastify',
  Koa: '@ratekeeper/koa',
} as const;

/** A framework ratekeeper has an adapter for. */
export type Framework = keyof typeof PACKAGES;

const errors = new Map<string, ConfigError>();

/**
 * The error an adapter gives when it is called the way another framework calls middleware (e.g. the
 * Express middleware in a Koa app): it names the package that fits. Built once per adapter; the
 * adapter hands it to the framework's error path, so the process never crashes.
 */
export function wrongFrameworkError(expected: Framework, call: string): ConfigError {
  let error = errors.get(expected);
  if (error === undefined) {
    const others = (Object.keys(PACKAGES) as Framework[])
      .filter((f) => f !== expected)
      .map((f) => `on ${f} use ${PACKAGES[f]}`)
      .join(', ');
    error = new ConfigError('framework', `${expected} (this is ${PACKAGES[expected]}; ${others})`, call);
    errors.set(expected, error);
  }
  return error;
}
