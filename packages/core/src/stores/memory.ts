import { ALGORITHM_IMPLS } from '../algorithms/index';
import type { BaseState, Outcome } from '../algorithms/types';
import { ConfigError, rejectUnknownOptions } from '../errors/config-error';
import type { ResolvedRule } from '../rules';
import { EvictionRing, type Table } from './memory-eviction';
import type { BoundStore, RawResult, Store } from './types';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most keys tracked at once (over all limiters and rules using this store). When full, the store
   * drops expired state first, then state that is no longer protected (see {@link MemoryStore}).
   * @default 1_000_000
   */
  maxKeys?: number;
}

/**
 * The embedded default store: state in plain objects in one `Map` per rule, decided synchronously
 * (no `await` between read and write, so every decision is atomic). Bounded by `maxKeys`; expired
 * state is dropped lazily when met and when room is needed. No timers: nothing keeps the process
 * alive. Time comes from the limiter's monotonic clock.
 *
 * Eviction, exactly. An insertion is a new (key, rule) state. A state is protected while it is
 * blocked (`blockFor`), for `⌊maxKeys/2⌋` insertions after its last use (`consume` or `peek`), and
 * for `3 × maxKeys` insertions after it while forgetting it would give away two or more units (two
 * used, or exhausted). A full store drops the first state its sweep (one CLOCK hand over the keys
 * of every limiter sharing the store) meets that is expired (free; preferred within the next 8) or
 * not protected. It drops protected state only when the sweep runs out of allowance (16 visits per
 * insertion, banked up to one lap), and then the least valuable of the last 16 visited (fewest
 * units used, then least recently used). That never happens while at most `maxKeys/4 − 5` states
 * are protected besides single-use ones (one request, one unit), which no flood of fresh keys can
 * change. So, while that holds, for every algorithm and however many limiters share the store:
 * (a) a blocked key, or an exhausted one (limit 2 or more), is kept for at least `3 × maxKeys`
 * insertions after its last use: flooding `3 × maxKeys` fresh keys does not free it; (b) a key
 * used at least once per `⌊maxKeys/2⌋` insertions keeps its count. Proof, costs and memory per
 * key: `docs/memory-store.md`.
 *
 * @example
 * const limiter = createLimiter({ limit: 100, window: '1m', store: new MemoryStore({ maxKeys: 100_000 }) });
 */
export class MemoryStore implements Store {
  /** The bound on tracked keys. */
  readonly maxKeys: number;
  /** Decides without a promise: `limiter.consumeSync` works on this store. */
  readonly synchronous = true;
  readonly #tables = new Map<string, Table>();
  readonly #ring: EvictionRing;

  constructor(options: MemoryStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
    rejectUnknownOptions(options, ['maxKeys']);
    const maxKeys = options.maxKeys ?? 1_000_000;
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new ConfigError('maxKeys', 'a positive integer', maxKeys);
    this.maxKeys = maxKeys;
    this.#ring = new EvictionRing(maxKeys);
  }

  /** Number of keys currently tracked (over all rules), expired ones included until dropped. */
  get size(): number {
    return this.#ring.size;
  }

  /** Prepares the store for one limiter (called by `createLimiter`). */
  bind(rules: readonly ResolvedRule[], prefix: string): BoundStore {
    const tables = rules.map((rule) => this.#table(prefix + rule.id, rule));
    return new BoundMemoryStore(this.#ring, rules, tables);
  }

  #table(ns: string, rule: ResolvedRule): Table {
    let table = this.#tables.get(ns);
    if (!table) {
      table = { impl: ALGORITHM_IMPLS[rule.algorithm], rule, map: new Map() };
      this.#tables.set(ns, table);
    } else if (table.impl.name !== rule.algorithm) {
      throw new ConfigError(
        'rules',
        `rule "${rule.id}" to use the algorithm already stored under that id with this prefix (${table.impl.name})`,
        rule.algorithm,
      );
    } else if (rule.windowMs > table.rule.windowMs) {
      table.rule = rule;
    }
    return table;
  }
}

function isExpired(table: Table, state: BaseState, now: number): boolean {
  return state.blk <= now && table.impl.expiresAt(state, table.rule) <= now;
}

const ALLOWED = 1;
const DENIED = 0;

class BoundMemoryStore implements BoundStore {
  readonly #ring: EvictionRing;
  readonly #rules: readonly ResolvedRule[];
  readonly #tables: readonly Table[];
  readonly #states: (BaseState | undefined)[];
  readonly #fresh: boolean[];
  readonly #outcomes: Outcome[];
  // Reused between calls: results are read by the limiter before the next call can start.
  readonly #result: number[];

  constructor(ring: EvictionRing, rules: readonly ResolvedRule[], tables: readonly Table[]) {
    this.#ring = ring;
    this.#rules = rules;
    this.#tables = tables;
    this.#states = rules.map(() => undefined);
    this.#fresh = rules.map(() => false);
    this.#outcomes = rules.map(() => ({ allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 }));
    this.#result = new Array<number>(1 + 4 * rules.length).fill(0);
  }

  /**
   * Looks up (or creates, unattached) the state of rule `i`. Stale state is used as is: every
   * algorithm normalises it (rolls windows, refills, prunes), which is cheaper than checking expiry.
   */
  #load(i: number, key: string, now: number): BaseState {
    const table = this.#tables[i] as Table;
    const state = table.map.get(key);
    if (state !== undefined) {
      this.#fresh[i] = false;
      return state;
    }
    this.#fresh[i] = true;
    return table.impl.create(now, table.rule);
  }

  // The common case, one rule, without the loops and bookkeeping of the general path.
  #consumeOne(key: string, cost: number, now: number): RawResult {
    const table = this.#tables[0] as Table;
    const rule = this.#rules[0] as ResolvedRule;
    const out = this.#outcomes[0] as Outcome;
    let state = table.map.get(key);
    const fresh = state === undefined;
    if (state === undefined) state = table.impl.create(now, table.rule);
    if (state.blk > now) blockedNow(out, state.blk - now);
    else {
      // Records the use for eviction (see EvictionRing): one field write, no Map operation.
      state.blk = this.#ring.mark;
      table.impl.evaluate(state, now, rule, cost, out);
      if (out.allowed) {
        table.impl.commit(state, now, rule, cost);
        if (fresh) this.#ring.insert(table, key, state, now);
      } else if (rule.blockForMs > 0 && out.retryAfterMs !== Number.POSITIVE_INFINITY) {
        state.blk = now + rule.blockForMs;
        blocked(out, Math.max(out.retryAfterMs, rule.blockForMs));
        if (fresh) this.#ring.insert(table, key, state, now);
      }
    }
    return this.#write(now);
  }

  consume(key: string, cost: number, now: number): RawResult {
    const n = this.#rules.length;
    if (n === 1) return this.#consumeOne(key, cost, now);
    let allAllowed = true;
    const mark = this.#ring.mark;
    for (let i = 0; i < n; i++) {
      const state = this.#load(i, key, now);
      this.#states[i] = state;
      const out = this.#outcomes[i] as Outcome;
      if (state.blk > now) blockedNow(out, state.blk - now);
      else {
        state.blk = mark;
        (this.#tables[i] as Table).impl.evaluate(state, now, this.#rules[i] as ResolvedRule, cost, out);
      }
      if (!out.allowed) allAllowed = false;
    }
    for (let i = 0; i < n; i++) {
      const state = this.#states[i] as BaseState;
      const table = this.#tables[i] as Table;
      const rule = this.#rules[i] as ResolvedRule;
      const out = this.#outcomes[i] as Outcome;
      let keep = false;
      if (allAllowed) {
        table.impl.commit(state, now, rule, cost);
        keep = true;
      } else if (out.allowed) {
        // Allowed by this rule but refused by another: nothing is consumed, so report what is left.
        out.remaining += cost;
      } else if (rule.blockForMs > 0 && state.blk <= now && out.retryAfterMs !== Number.POSITIVE_INFINITY) {
        state.blk = now + rule.blockForMs;
        blocked(out, Math.max(out.retryAfterMs, rule.blockForMs));
        keep = true;
      }
      if (!keep) this.#fresh[i] = false;
    }
    // Inserted only once every rule has committed: making room may visit (or drop) this key's
    // other states, so they must already hold this request.
    for (let i = 0; i < n; i++) {
      if (this.#fresh[i]) this.#ring.insert(this.#tables[i] as Table, key, this.#states[i] as BaseState, now);
      this.#states[i] = undefined;
    }
    return this.#write(now);
  }

  peek(key: string, now: number): RawResult {
    const n = this.#rules.length;
    const mark = this.#ring.mark;
    for (let i = 0; i < n; i++) {
      const state = this.#load(i, key, now);
      const out = this.#outcomes[i] as Outcome;
      if (state.blk > now) blockedNow(out, state.blk - now);
      else {
        state.blk = mark;
        (this.#tables[i] as Table).impl.evaluate(state, now, this.#rules[i] as ResolvedRule, 1, out);
        if (out.allowed) out.remaining += 1;
      }
    }
    return this.#write(now);
  }

  refund(key: string, cost: number, now: number, chargedAt: number): void {
    for (let i = 0; i < this.#rules.length; i++) {
      const table = this.#tables[i] as Table;
      const state = table.map.get(key);
      if (state !== undefined && !isExpired(table, state, now))
        table.impl.refund(state, now, this.#rules[i] as ResolvedRule, cost, chargedAt);
    }
  }

  reset(key: string | undefined): void {
    for (const table of this.#tables) {
      if (key === undefined) this.#ring.clear(table);
      else this.#ring.delete(table, key);
    }
  }

  #write(now: number): RawResult {
    const r = this.#result;
    r[0] = now;
    for (let i = 0, j = 1; i < this.#outcomes.length; i++, j += 4) {
      const out = this.#outcomes[i] as Outcome;
      r[j] = out.allowed ? ALLOWED : DENIED;
      r[j + 1] = out.remaining;
      r[j + 2] = out.resetMs;
      r[j + 3] = out.retryAfterMs;
    }
    return r;
  }
}

function blocked(out: Outcome, waitMs: number): void {
  out.allowed = false;
  out.remaining = 0;
  out.retryAfterMs = waitMs;
  if (out.resetMs < waitMs) out.resetMs = waitMs;
}

function blockedNow(out: Outcome, waitMs: number): void {
  out.resetMs = 0;
  blocked(out, waitMs);
}
