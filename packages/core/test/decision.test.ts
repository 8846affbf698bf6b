import { allOf, anyOf, createLimiter, type Decision, type LimiterOptions } from '@ratekeeper/core';
import { bindingOf, decide, policyDecision, waitDecision } from '../src/decision';
import { StoreError } from '../src/errors/store-error';
import { resolveRules } from '../src/rules';

const T0 = 1_700_000_000_000;

/** Decisions are plain data: copies must equal the original (JSON turns `Infinity` into null, so only finite ones there). */
function expectCopiesEqual(d: Decision): void {
  const cloned = structuredClone(d);
  expect(cloned).toEqual(d);
  expect(cloned.rules).toHaveLength(d.rules.length);
  expect(JSON.parse(JSON.stringify(d))).toEqual(d);
}

function limiter(options: Omit<LimiterOptions, 'now'>) {
  return createLimiter({ ...options, now: () => T0 + 250 } as LimiterOptions);
}

describe('Decision is plain data', () => {
  it('one rule: structuredClone and a JSON round trip copy it, allowed and denied', async () => {
    const l = limiter({ limit: 1, window: '1s', algorithm: 'fixed-window' });
    const allowed = await l.consume('k');
    expect(allowed.rules).toHaveLength(1);
    expect(allowed.rules[0]).not.toBe(allowed);
    expect(Object.values(allowed).some((v) => typeof v === 'function')).toBe(false);
    expectCopiesEqual(allowed);
    const denied = await l.consume('k');
    expect(denied).toMatchObject({ allowed: false, retryAfterMs: 750 });
    expectCopiesEqual(denied);
    const never = await l.consume('k', { cost: 2 });
    expect(never.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
    expect(structuredClone(never)).toEqual(never);
  });

  it('several rules: structuredClone and a JSON round trip copy it', async () => {
    const l = limiter({
      rules: [
        { limit: 3, window: '1s', algorithm: 'fixed-window' },
        { limit: 2, window: '1m', algorithm: 'gcra' },
      ],
    });
    const first = await l.consume('k');
    expect(first).toMatchObject({ allowed: true, remaining: 1, limit: 2 });
    expectCopiesEqual(first);
    await l.consume('k');
    const denied = await l.consume('k');
    expect(denied.allowed).toBe(false);
    expectCopiesEqual(denied);
  });

  it('composite decisions copy too (members included)', async () => {
    const a = limiter({ limit: 1, window: '1s', name: 'a' });
    const b = limiter({ limit: 5, window: '1s', name: 'b' });
    for (const composite of [allOf(a, b), anyOf(a, b)]) {
      const d = await composite.consume('k');
      expect(structuredClone(d)).toEqual(d);
      // Members anyOf did not ask are `undefined`, which JSON writes as null.
      expect(JSON.parse(JSON.stringify(d))).toEqual({ ...d, members: d.members.map((m) => m ?? null) });
      await composite.reset('k');
    }
  });

  it('every builder gives one shape: the binding view on top, then rules and at', () => {
    const rules = resolveRules([
      { limit: 5, window: 1000, name: 'a' },
      { limit: 2, window: 1000, name: 'b' },
    ]);
    const keys = ['allowed', 'limit', 'remaining', 'resetMs', 'retryAfterMs', 'rule', 'rules', 'at'];
    const one = decide(rules.slice(0, 1), [T0, 1, 4, 1000, 0]);
    const two = decide(rules, [T0, 1, 4, 1000, 0, 1, 1, 1000, 0]);
    const wait = waitDecision(rules, 300, T0);
    for (const d of [one, two, wait]) expect(Object.keys(d)).toEqual(keys);
    expect(Object.keys(policyDecision(rules, true, T0, new StoreError('consume', 'down')))).toEqual([...keys, 'error']);
    expect(two).toMatchObject({ limit: 2, remaining: 1, rule: rules[1] });
    expect(wait).toMatchObject({ allowed: false, retryAfterMs: 300, rule: rules[0] });
  });

  it('the binding view: least remaining when allowed, else the refusing one with the longest wait (first on ties)', () => {
    const v = (allowed: boolean, remaining: number, retryAfterMs: number) => ({ allowed, remaining, retryAfterMs }) as Decision;
    const a = v(true, 3, 0);
    const b = v(true, 1, 0);
    const c = v(false, 0, 500);
    const d = v(false, 0, 900);
    const e = v(false, 0, 900);
    expect(bindingOf([a, b], true)).toBe(b);
    expect(bindingOf([a, c, d, e], false)).toBe(d);
    expect(bindingOf([c], false)).toBe(c);
  });
});
