import { ALGORITHM_DESCRIPTORS, ALGORITHM_REGISTRY, type Algorithm } from './algorithms/index';
import { type Duration, humanDuration, parseDuration } from './duration';
import { ConfigError, rejectUnknownOptions } from './errors/config-error';

// The union of the registered names (`algorithms/index.ts`).
export type { Algorithm };

/** The algorithms whose rules take `burst` (the bucket capacity). */
export type BurstAlgorithm = 'token-bucket' | 'gcra';

/** The fields of a {@link Rule} every algorithm takes. */
export interface RuleFields {
  /** Requests (cost units) allowed per window. A positive integer. */
  limit: number;
  /** Window length: milliseconds or `'15m'`-style. */
  window: Duration;
  /** Once a request is denied, deny the key for this long. @default 0 */
  blockFor?: Duration;
  /** Policy name in headers and part of the storage key. @default derived, e.g. `100-in-1min` */
  name?: string;
}

/** The algorithm of a rule, and `burst` only where the algorithm takes it (a type error elsewhere). */
export type AlgorithmChoice =
  | {
      /** @default 'sliding-window' */
      algorithm?: Exclude<Algorithm, BurstAlgorithm>;
      /** Only `token-bucket` and `gcra` take a burst. */
      burst?: undefined;
    }
  | {
      algorithm: BurstAlgorithm;
      /** Bucket capacity (how many may pass at once). @default limit */
      burst?: number;
    };

/** One limit: `limit` requests per `window`. */
export type Rule = RuleFields & AlgorithmChoice;

/**
 * Either the fields of one rule (the shorthand of `createLimiter` and the HTTP options) or
 * `rules`, never both: mixing them is a type error (and a `ConfigError` at run time).
 * @typeParam R - what `rules` accepts.
 */
export type RuleOptions<R = readonly Rule[]> =
  | ({ rules?: undefined } & Partial<RuleFields> & AlgorithmChoice)
  | {
      /** Several limits checked at once, all-or-nothing (e.g. 10/s and 1000/h). */
      rules: R;
      limit?: undefined;
      window?: undefined;
      algorithm?: undefined;
      burst?: undefined;
      blockFor?: undefined;
      /** The limiter's name, for metrics, traces and logs (with one rule's fields instead of `rules`, it names that rule too). */
      name?: string | undefined;
    };

/** A validated {@link Rule} with durations in milliseconds. */
export interface ResolvedRule {
  /** Storage id: the name, else derived from algorithm, limit, window and burst. */
  readonly id: string;
  /** Policy name used in headers. */
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly algorithm: Algorithm;
  readonly burst: number;
  readonly blockForMs: number;
}

/** Every algorithm name, in registry order (`algorithms/index.ts`). */
export const ALGORITHMS: readonly Algorithm[] = Object.freeze(ALGORITHM_REGISTRY.map((d) => d.name));

/** The algorithms that take `burst`. */
export const BURST_ALGORITHMS = ALGORITHMS.filter((a) => ALGORITHM_DESCRIPTORS[a].takesBurst);

/** Default algorithm: the weighted two-window counter (no 2x burst at window edges, O(1) state). */
export const DEFAULT_ALGORITHM: Algorithm = 'sliding-window';

/** The sliding log keeps one timestamp per request: its limit is capped to bound memory. */
export const SLIDING_LOG_MAX_LIMIT = 10_000;

/** Keeps `limit × window` integer arithmetic exact (below 2^53 with headroom). */
const MAX_PRODUCT = 2 ** 50;

/** The fields of a {@link Rule}: the one list, also used for the limiter's and the HTTP options' one-rule shorthand. */
export const RULE_FIELDS = ['limit', 'window', 'algorithm', 'burst', 'blockFor', 'name'] as const satisfies readonly (
  | keyof RuleFields
  | keyof AlgorithmChoice
)[];
const RULE_KEYS: ReadonlySet<string> = new Set(RULE_FIELDS);
const NAME_PATTERN = /^[\w.~-]{1,64}$/;

/** Validates one rule; `at` is the option path used in error messages. */
export function resolveRule(rule: unknown, at = 'rule'): ResolvedRule {
  // `at` is '' for the limiter's one-rule shorthand, whose fields are top-level options.
  const p = (field: string): string => (at ? `${at}.${field}` : field);
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule))
    throw new ConfigError(at || 'options', 'an object such as { limit: 100, window: "1m" }', rule);
  const r = rule as Record<string, unknown>;
  rejectUnknownOptions(r, RULE_KEYS, at);
  const algorithm = r.algorithm ?? DEFAULT_ALGORITHM;
  if (typeof algorithm !== 'string' || !ALGORITHMS.includes(algorithm as Algorithm)) {
    throw new ConfigError(p('algorithm'), `one of ${ALGORITHMS.map((a) => `'${a}'`).join(', ')}`, algorithm);
  }
  const limit = r.limit;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1)
    throw new ConfigError(p('limit'), 'a positive integer', limit);
  const windowMs = parseDuration(r.window, p('window'));
  const burst = r.burst ?? limit;
  if (typeof burst !== 'number' || !Number.isSafeInteger(burst) || burst < 1)
    throw new ConfigError(p('burst'), 'a positive integer', burst);
  const descriptor = ALGORITHM_DESCRIPTORS[algorithm as Algorithm];
  if (r.burst !== undefined && !descriptor.takesBurst) {
    throw new ConfigError(p('burst'), `undefined unless \`algorithm\` is ${orList(BURST_ALGORITHMS)}`, burst);
  }
  if (Math.max(limit, burst) * windowMs * 4 > MAX_PRODUCT) {
    throw new ConfigError(
      p('limit'),
      `small enough that limit × window (ms) stays below 2^48 (window ${windowMs} ms)`,
      Math.max(limit, burst),
    );
  }
  if (algorithm === 'sliding-log' && limit > SLIDING_LOG_MAX_LIMIT) {
    throw new ConfigError(
      p('limit'),
      `at most ${SLIDING_LOG_MAX_LIMIT} for 'sliding-log' (it stores one timestamp per request; use 'sliding-window' or 'gcra' for larger limits)`,
      limit,
    );
  }
  const blockForMs = r.blockFor === undefined ? 0 : parseDuration(r.blockFor, p('blockFor'), true);
  const name = r.name;
  if (name !== undefined && (typeof name !== 'string' || !NAME_PATTERN.test(name))) {
    throw new ConfigError(p('name'), 'a string of 1-64 letters, digits, "_", "-", "." or "~"', name);
  }
  // Derived ids are part of every storage key: their form must never change.
  const derived = `${descriptor.idPrefix}-${limit}-${windowMs}${burst !== limit ? `-b${burst}` : ''}`;
  return Object.freeze({
    id: name ?? derived,
    name: name ?? `${limit}-in-${humanDuration(windowMs)}`,
    limit,
    windowMs,
    algorithm: algorithm as Algorithm,
    burst,
    blockForMs,
  });
}

/** Validates a non-empty list of rules; ids must be unique within one limiter. */
export function resolveRules(rules: unknown, at = 'rules'): ResolvedRule[] {
  if (!Array.isArray(rules) || rules.length === 0) throw new ConfigError(at, 'a non-empty array of rules', rules);
  const resolved = rules.map((rule, i) => resolveRule(rule, `${at}[${i}]`));
  const seen = new Set<string>();
  for (const [i, rule] of resolved.entries()) {
    if (seen.has(rule.id))
      throw new ConfigError(`${at}[${i}].name`, 'unique within one limiter (two rules would share their state)', rule.id);
    seen.add(rule.id);
  }
  return resolved;
}

/** The capacity of a rule: the most cost one request can ever be granted. */
export function capacityOf(rule: ResolvedRule): number {
  return ALGORITHM_DESCRIPTORS[rule.algorithm].capacity(rule);
}

/** `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`. */
function orList(names: readonly string[]): string {
  const quoted = names.map((n) => `'${n}'`);
  return quoted.length < 2 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}

/**
 * Types a list of rules where it is written (an identity function): `'1m'` is then checked as a
 * {@link Duration}, where a plain object literal would widen it to `string` and fail to compile
 * under `strict` once passed on. Handy for tiered plans.
 * @example
 * const plans = {
 *   free: defineRules([{ limit: 5, window: '1m', name: 'free' }]),
 *   pro: defineRules([{ limit: 50, window: '1m', name: 'pro' }]),
 * };
 * app.use(rateLimit({ key: 'user', user: (req) => req.user?.id, rules: (req) => plans[req.user?.plan ?? 'free'] }));
 */
export function defineRules(rules: readonly Rule[]): readonly Rule[] {
  return rules;
}
