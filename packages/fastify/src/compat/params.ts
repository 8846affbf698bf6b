// @fastify/rate-limit's options as it resolves them: every option has a documented fallback (a bad
// `max` is 1000, a bad `timeWindow` one minute), route options are layered over the plugin's with a
// plain assign, and the result is what a custom store's constructor and `child()` receive.

import type { FastifyRequest } from 'fastify';
import { DEFAULT_IPV6_SUBNET, resolveIpv6Subnet } from './ip';
import { formatMsLong, parseMs } from './ms';
import type { ErrorResponseBuilderContext } from './types';

const DEFAULT_MAX = 1000;
const DEFAULT_TIME_WINDOW = 60_000;

/** The header names of one family. */
export interface Labels {
  readonly rateLimit: string;
  readonly rateRemaining: string;
  readonly rateReset: string;
  readonly retryAfter: string;
}

const LEGACY_LABELS: Labels = {
  rateLimit: 'x-ratelimit-limit',
  rateRemaining: 'x-ratelimit-remaining',
  rateReset: 'x-ratelimit-reset',
  retryAfter: 'retry-after',
};

const DRAFT_LABELS: Labels = {
  rateLimit: 'ratelimit-limit',
  rateRemaining: 'ratelimit-remaining',
  rateReset: 'ratelimit-reset',
  retryAfter: 'retry-after',
};

type RequestKeyFn<T> = (request: FastifyRequest, key: string) => T | Promise<T>;

/** The options of one limiter, resolved. Unknown keys stay (a custom store may read them). */
export interface Params {
  global: boolean;
  enableDraftSpec: boolean;
  labels: Labels;
  addHeaders: Record<string, unknown>;
  addHeadersOnExceeding: Record<string, unknown>;
  max: number | RequestKeyFn<number>;
  timeWindow: number | RequestKeyFn<number>;
  hook: string;
  allowList: readonly unknown[] | RequestKeyFn<unknown> | null;
  ban: number;
  onBanReach: (request: FastifyRequest, key: string) => void;
  onExceeding: (request: FastifyRequest, key: string) => void;
  onExceeded: (request: FastifyRequest, key: string) => void;
  continueExceeding: boolean;
  exponentialBackoff: boolean;
  ipv6Subnet: number;
  /** `undefined`: the client address (normalised per `ipv6Subnet`). */
  keyGenerator: ((request: FastifyRequest) => unknown) | undefined;
  errorResponseBuilder: (request: FastifyRequest, context: ErrorResponseBuilderContext) => unknown;
  skipOnError: boolean;
  groupId?: unknown;
  cache?: unknown;
  routeInfo?: unknown;
  [option: string]: unknown;
}

const ignore = (): void => {};

/** The default refusal: an Error whose `statusCode` Fastify's error handler answers with. */
function defaultErrorResponse(_request: FastifyRequest, context: ErrorResponseBuilderContext): Error {
  const error = new Error(`Rate limit exceeded, retry in ${context.after}`) as Error & { statusCode: number };
  error.statusCode = context.statusCode;
  return error;
}

function isNonNegative(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function callback<T>(value: unknown, fallback: T): T {
  return typeof value === 'function' ? (value as T) : fallback;
}

function flag(value: unknown): boolean {
  return typeof value === 'boolean' ? value : false;
}

function resolveTimeWindow(value: unknown): Params['timeWindow'] {
  if (isNonNegative(value)) return Math.trunc(value);
  if (typeof value === 'string') {
    const ms = parseMs(value);
    return ms !== undefined && ms >= 0 ? ms : DEFAULT_TIME_WINDOW;
  }
  return callback(value, DEFAULT_TIME_WINDOW);
}

function resolveMax(value: unknown): Params['max'] {
  return isNonNegative(value) ? Math.trunc(value) : callback(value, DEFAULT_MAX);
}

function resolveBan(value: unknown): number {
  return isNonNegative(value) ? Math.trunc(value) : -1;
}

/** The plugin options, resolved with @fastify/rate-limit's fallbacks (no option makes it throw). */
export function resolveGlobalParams(settings: Record<string, unknown>): Params {
  const enableDraftSpec = settings.enableDraftSpec === true;
  const labels = enableDraftSpec ? DRAFT_LABELS : LEGACY_LABELS;
  return {
    global: typeof settings.global === 'boolean' ? settings.global : true,
    enableDraftSpec,
    labels,
    addHeaders: {
      [labels.rateLimit]: true,
      [labels.rateRemaining]: true,
      [labels.rateReset]: true,
      [labels.retryAfter]: true,
      ...(settings.addHeaders as object | undefined),
    },
    addHeadersOnExceeding: {
      [labels.rateLimit]: true,
      [labels.rateRemaining]: true,
      [labels.rateReset]: true,
      ...(settings.addHeadersOnExceeding as object | undefined),
    },
    max: resolveMax(settings.max),
    timeWindow: resolveTimeWindow(settings.timeWindow),
    hook: typeof settings.hook === 'string' && settings.hook !== '' ? settings.hook : 'onRequest',
    allowList: (settings.allowList as Params['allowList'] | undefined) || null,
    ban: resolveBan(settings.ban),
    onBanReach: callback(settings.onBanReach, ignore),
    onExceeding: callback(settings.onExceeding, ignore),
    onExceeded: callback(settings.onExceeded, ignore),
    continueExceeding: flag(settings.continueExceeding),
    exponentialBackoff: flag(settings.exponentialBackoff),
    ipv6Subnet: resolveIpv6Subnet(settings.ipv6Subnet ?? DEFAULT_IPV6_SUBNET),
    keyGenerator: callback(settings.keyGenerator, undefined),
    errorResponseBuilder: callback(settings.errorResponseBuilder, defaultErrorResponse),
    skipOnError: flag(settings.skipOnError),
  };
}

/**
 * A route's (or a decorator call's) options over the plugin's: a plain assign, then `timeWindow`,
 * `max`, `ban` and `ipv6Subnet` fall back as at the top level (a bad route `timeWindow` is one
 * minute, not the plugin's). Throws `groupId must be a string` as @fastify/rate-limit does.
 */
export function mergeParams(global: Params, own: object, routeInfo: object): Params {
  const merged = { ...global, ...own, routeInfo } as Params;
  merged.timeWindow = typeof merged.timeWindow === 'function' ? merged.timeWindow : resolveTimeWindow(merged.timeWindow);
  merged.max = resolveMax(merged.max);
  merged.ban = resolveBan(merged.ban);
  merged.ipv6Subnet = resolveIpv6Subnet(merged.ipv6Subnet);
  if (merged.groupId !== undefined && typeof merged.groupId !== 'string') throw new Error('groupId must be a string');
  return merged;
}

/** `'1 second'`, `'7 seconds'`: the wait as the default error message words it. */
export function afterText(ttlInSeconds: number): string {
  return formatMsLong(ttlInSeconds * 1000);
}
