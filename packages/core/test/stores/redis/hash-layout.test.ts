import { createLimiter, type Rule, resolveRules } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import { ALGORITHMS } from '../../../src/rules';
import { buildHashScript, fitsHashLayout, hashLayoutName } from '../../../src/stores/redis/scripts/hash-layout';
import { newCluster, newRedis, uniquePrefix } from './helpers';

// The hash layout (scripts/hash-layout.ts): a limiter of several rules keeps one key's state in
// one hash, read with one HMGET and written with one HSET. What the parity suite cannot see: the
// key names and fields, the TTL that covers every rule, blockFor deadlines as fields, repairs,
// reset, and that the per-rule layout stays where it must (one rule, a sliding log, leasing).

const client = newRedis();
afterAll(() => client.quit());

const T0 = 1_700_000_000_000;
const MIX: Rule[] = [
  { limit: 3, window: 1000, algorithm: 'gcra' },
  { limit: 10, window: 60_000, algorithm: 'sliding-window' },
  { limit: 20, window: 3_600_000, algorithm: 'fixed-window' },
];

/** A rule's state field: its integers, stored as little-endian doubles. */
function doubles(field: Buffer | null | undefined): number[] {
  if (!field) return [];
  return Array.from({ length: field.length / 8 }, (_, i) => field.readDoubleLE(8 * i));
}

/** Every key under `prefix`. */
async function keysOf(prefix: string): Promise<string[]> {
  return (await client.keys(`${prefix}*`)).sort();
}

describe('hash layout', () => {
  it('several rules: one hash per key, `<prefix><ids joined by +>:{key}`, field i per rule and x its expiry', async () => {
    const prefix = uniquePrefix('hl-name');
    let now = T0;
    const store = new RedisStore({ client, clock: 'client' });
    const limiter = createLimiter({ rules: MIX, store, prefix, now: () => now });
    await limiter.consume('alice');
    now += 10;
    await limiter.consume('alice');
    const rules = resolveRules(MIX);
    const name = `${prefix}${rules.map((r) => r.id).join('+')}:{alice}`;
    expect(await keysOf(prefix)).toEqual([name]);
    const fields = await client.hgetall(name);
    const raw = await client.hgetallBuffer(name);
    // gcra: TAT 2 × 333.3 ms after T0 (+10 ms of elapsed time absorbed), sliding: window start and
    // two counts, fixed: the hour's start and its count; x: the longest (the hour's end) + slack
    // (60 s for the client clock) + H (a quarter of the longest window).
    const hour = Math.floor(T0 / 3_600_000) * 3_600_000;
    expect(Object.keys(fields).sort()).toEqual(['1', '2', '3', 'x']);
    // Each field holds its integers as little-endian doubles (8 bytes each), x is decimal text.
    expect(doubles(raw['1'])).toEqual([T0 + 666, 2]);
    expect(doubles(raw['2'])).toEqual([Math.floor(T0 / 60_000) * 60_000, 2, 0]);
    expect(doubles(raw['3'])).toEqual([hour, 2]);
    expect(Number(fields.x)).toBe(hour + 3_600_000 + 60_000 + 900_000);
    const pttl = await client.pttl(name);
    // Redis's clock is not the limiter's here: the TTL is what x was minus the limiter's now.
    expect(pttl).toBeLessThanOrEqual(Number(fields.x) - (now - 10));
    expect(pttl).toBeGreaterThan(Number(fields.x) - now - 5_000);
    await store.close();
  });

  it('the expiry moves only when the hash must live longer, not on every write', async () => {
    const prefix = uniquePrefix('hl-ttl');
    let now = T0;
    const store = new RedisStore({ client, clock: 'client' });
    const limiter = createLimiter({ rules: MIX, store, prefix, now: () => now });
    await limiter.consume('bob');
    const [key] = await keysOf(prefix);
    const x = await client.hget(key as string, 'x');
    const states = new Set<string>();
    // x is written (with the PEXPIRE) only when a state would outlive it: the hour's end bounds
    // every write here, while the GCRA's TAT moves on with each one.
    for (let i = 0; i < 8; i++) {
      now += 400;
      expect((await limiter.consume('bob')).allowed).toBe(true);
      states.add(doubles(await client.hgetBuffer(key as string, '1')).join(' '));
      expect(await client.hget(key as string, 'x')).toBe(x);
    }
    expect(states.size).toBe(8);
    // A state that outlives x moves it: a sliding window of a day on the same hash name is
    // another limiter, so move the clock past x instead (every state dead, the hash expired on
    // Redis's clock or not): the next write sets x from the new hour.
    now = Number(x) + 1;
    await limiter.consume('bob');
    expect(Number(await client.hget(key as string, 'x'))).toBe(Math.floor(now / 3_600_000) * 3_600_000 + 3_600_000 + 60_000 + 900_000);
    await store.close();
  });

  it('a blockFor deadline is field b<i> of the hash, and the hash outlives it', async () => {
    const prefix = uniquePrefix('hl-block');
    let now = T0;
    const store = new RedisStore({ client, clock: 'client' });
    const rules: Rule[] = [
      { limit: 1, window: 1000, algorithm: 'fixed-window', blockFor: '10m' },
      { limit: 5, window: 2000, algorithm: 'gcra' },
    ];
    const limiter = createLimiter({ rules, store, prefix, now: () => now });
    expect((await limiter.consume('eve')).allowed).toBe(true);
    const denied = await limiter.consume('eve');
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfterMs).toBe(600_000);
    const [key] = await keysOf(prefix);
    expect(await client.hget(key as string, 'b1')).toBe(String(T0 + 600_000));
    // x covers the block (+ slack + H), though every rule's own state is dead within 2 s.
    expect(Number(await client.hget(key as string, 'x'))).toBeGreaterThanOrEqual(T0 + 600_000 + 60_000);
    now += 5_000;
    expect((await limiter.consume('eve')).allowed).toBe(false);
    now += 600_000;
    expect((await limiter.consume('eve')).allowed).toBe(true);
    await store.close();
  });

  it('state another app left (a wrong type, a field that is no state) is repaired and reported', async () => {
    const prefix = uniquePrefix('hl-repair');
    const store = new RedisStore({ client, clock: 'client' });
    const errors: string[] = [];
    const limiter = createLimiter({ rules: MIX, store, prefix, now: () => T0, onStoreError: 'deny' });
    const key = `${prefix}${hashLayoutName(resolveRules(MIX))}:{mallory}`;
    await client.set(key, 'not a hash');
    const bound = store.bind(resolveRules(MIX), prefix, { timeoutMs: 1000, report: (e) => void errors.push(e.message) });
    const first = await bound.consume('mallory', 1, T0);
    expect(first[1]).toBe(1);
    expect(await client.type(key)).toBe('hash');
    await client.hset(key, '2', 'garbage');
    const second = await bound.consume('mallory', 1, T0);
    expect(second[1]).toBe(1);
    expect(doubles(await client.hgetBuffer(key, '2'))).toEqual([Math.floor(T0 / 60_000) * 60_000, 1, 0]);
    // Bytes of a state's length that decode to no number a state holds (NaN) are repaired too.
    await client.hset(key, '3', Buffer.from(new Float64Array([Number.NaN, 1]).buffer));
    expect((await bound.consume('mallory', 1, T0))[1]).toBe(1);
    expect(doubles(await client.hgetBuffer(key, '3'))).toEqual([Math.floor(T0 / 3_600_000) * 3_600_000, 1]);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/foreign or corrupt/);
    expect((await limiter.peek('mallory')).rules[2]?.remaining).toBe(19);
    await store.close();
  });

  it('refund and reset(key) work on the hash; reset() clears every key of the limiter and only those', async () => {
    const prefix = uniquePrefix('hl-reset');
    let now = T0;
    const store = new RedisStore({ client, clock: 'client' });
    const limiter = createLimiter({ rules: MIX, store, prefix, now: () => now });
    const other = createLimiter({ rules: MIX.slice(1), store, prefix: `${prefix}o:`, now: () => now });
    for (const k of ['a', 'b', 'c']) await limiter.consume(k);
    await other.consume('a');
    now += 5;
    await limiter.refund('a', 1);
    expect((await limiter.peek('a')).rules.map((r) => r.remaining)).toEqual([3, 10, 20]);
    await limiter.reset('b');
    expect((await keysOf(prefix)).length).toBe(3);
    await limiter.reset();
    expect(await keysOf(prefix)).toEqual([`${prefix}o:${hashLayoutName(resolveRules(MIX.slice(1)))}:{a}`]);
    await store.close();
  });

  it('one rule, a rule set with a sliding log, and every limiter of a leasing store keep one key per rule', async () => {
    const prefix = uniquePrefix('hl-keys');
    const store = new RedisStore({ client, clock: 'client' });
    const one = createLimiter({ limit: 5, window: '1m', store, prefix: `${prefix}1:`, now: () => T0 });
    const log = createLimiter({
      rules: [
        { limit: 5, window: '1m', algorithm: 'sliding-log' },
        { limit: 50, window: '1h', algorithm: 'fixed-window' },
      ],
      store,
      prefix: `${prefix}2:`,
      now: () => T0,
    });
    await one.consume('k');
    await log.consume('k');
    const leasing = new RedisStore({ client, clock: 'client', lease: { size: 1 } });
    const leased = createLimiter({ rules: [MIX[0] as Rule, MIX[2] as Rule], store: leasing, prefix: `${prefix}3:`, now: () => T0 });
    await leased.consume('k');
    const keys = await keysOf(prefix);
    expect(keys.filter((k) => k.startsWith(`${prefix}1:`))).toHaveLength(1);
    expect(keys.filter((k) => k.startsWith(`${prefix}2:`))).toHaveLength(2);
    expect(keys.filter((k) => k.startsWith(`${prefix}3:`))).toHaveLength(2);
    expect(keys.some((k) => k.includes('+'))).toBe(false);
    await Promise.all([store.close(), leasing.close()]);
  });

  it('a long rule set is named by a digest; every algorithm but the sliding log fits', () => {
    const many = resolveRules(Array.from({ length: 12 }, (_, i) => ({ limit: 10 + i, window: 60_000 * (i + 1) })));
    expect(hashLayoutName(many)).toMatch(/^\+[0-9a-f]{40}$/);
    expect(hashLayoutName(resolveRules(MIX))).toBe(
      resolveRules(MIX)
        .map((r) => r.id)
        .join('+'),
    );
    for (const algorithm of ALGORITHMS) {
      const rules = resolveRules([
        { limit: 5, window: 1000, algorithm },
        { limit: 50, window: 60_000, algorithm: 'fixed-window' },
      ]);
      expect([algorithm, fitsHashLayout(rules)]).toEqual([algorithm, algorithm !== 'sliding-log']);
      expect(fitsHashLayout(rules.slice(0, 1))).toBe(false);
    }
  });

  it('every script touches only KEYS[1], the hash (run under a guard that raises on any other key)', async () => {
    const guard = `
local function guarded(f, cmd, k, ...)
  if cmd ~= 'TIME' and k ~= KEYS[1] then error('undeclared key ' .. tostring(k) .. ' in ' .. cmd) end
  if k == nil then return f(cmd) end
  if cmd == 'UNLINK' or cmd == 'DEL' then for _, o in ipairs({...}) do error('undeclared key ' .. o) end end
  return f(cmd, k, ...)
end
`;
    const guarded = (src: string) =>
      guard + src.replace(/redis\.call\(/g, 'guarded(redis.call, ').replace(/redis\.pcall\(/g, 'guarded(redis.pcall, ');
    for (const algorithm of ALGORITHMS.filter((a) => a !== 'sliding-log')) {
      const rules = resolveRules([
        { limit: 2, window: 60_000, algorithm, blockFor: 30_000 },
        { limit: 5, window: 3_600_000, algorithm: 'fixed-window' },
      ] as Rule[]);
      const key = `${uniquePrefix(`hl-guard-${algorithm}`)}${hashLayoutName(rules)}:{k}`;
      const run = (op: 'consume' | 'peek' | 'refund' | 'reset', argv: (string | number)[]) =>
        client.eval(guarded(buildHashScript(op, rules, 'time', 0)), 1, key, ...argv);
      for (let i = 0; i < 4; i++) await run('consume', [0, 1, -1]);
      expect(await client.hexists(key, 'b1')).toBe(1);
      await run('peek', [0, 1]);
      await run('refund', [0, 1, Date.now()]);
      await run('reset', []);
      expect(await client.exists(key)).toBe(0);
    }
  });

  it('on a Cluster: one hash per key in the key slot, decisions as on a standalone server', async () => {
    const cluster = newCluster();
    const prefix = uniquePrefix('hl-cluster');
    let now = T0;
    const store = new RedisStore({ client: cluster, clock: 'client' });
    // A loaded full run once took longer than the default 250 ms to connect the Cluster: the calls
    // were answered by the 'allow' policy and never charged. Only Redis may answer here.
    const limiter = createLimiter({ rules: MIX, store, prefix, now: () => now, timeoutMs: 10_000, onStoreError: 'deny' });
    const seen: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      seen.push((await limiter.consume('carol')).allowed);
      now += 1;
    }
    expect(seen).toEqual([true, true, true, false, false]);
    const name = `${prefix}${hashLayoutName(resolveRules(MIX))}:{carol}`;
    expect(doubles(await cluster.hgetBuffer(name, '3'))).toEqual([Math.floor(T0 / 3_600_000) * 3_600_000, 3]);
    await limiter.reset();
    expect(await cluster.exists(name)).toBe(0);
    await store.close();
    await cluster.quit();
  });
});
