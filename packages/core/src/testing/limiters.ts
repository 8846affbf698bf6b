import type { RuleDecision } from '../decision';
import type { Limiter } from '../limiter';
import { liveLimiters } from '../registry';

/**
 * What every rule of `limiter` holds for `key` right now, without consuming (a `peek`): per rule,
 * its limit, the units left, when it is fully restored and whether one more request would pass.
 * @example
 * const [perSecond, perHour] = await inspectKey(limiter, '203.0.113.1');
 */
export async function inspectKey(limiter: Limiter, key: string): Promise<readonly RuleDecision[]> {
  return (await limiter.peek(key)).rules;
}

/**
 * Resets every limiter this process created (`createLimiter`, and those the HTTP adapters build),
 * on whatever store they use: call it between tests so one test's counts never reach the next.
 * Resolves when every store has answered.
 */
export async function resetAllLimiters(): Promise<void> {
  await Promise.all(liveLimiters().map((limiter) => limiter.reset()));
}
