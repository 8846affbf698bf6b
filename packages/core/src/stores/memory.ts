import { ALGORITHM_IMPLS } from '../algorithms/index';
import type { BaseState, Outcome } from '../algorithms/types';
import { ConfigError, rejectUnknownOptions } from '../errors/config-error';
import type { ResolvedRule } from '../rules';
import { EvictionRing, type Table } from './memory-eviction';
import { MemorySlots } from './memory-slots';
import type { BoundStore, ConcurrencySlots, RawResult, Store } from './types';

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
  /** Concurrency slots in this process (see `createConcurrencyLimiter`). */
  bindConcurrency(prefix: string, max: number, leaseMs: number): ConcurrencySlots {
    return new MemorySlots(prefix, max, leaseMs);
  }

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

/** One rule of a bound limiter: its table, and the scratch of the decision in progress. */
interface Slot {
  readonly rule: ResolvedRule;
  readonly table: Table;
  /** What the rule says; reused from call to call (read by the limiter before the next call). */
  readonly out: Outcome;
  /** The state being decided (undefined between calls). */
  state: BaseState | undefined;
  /** Whether `state` was created for this call (not in the table yet). */
  fresh: boolean;
}

class BoundMemoryStore implements BoundStore {
  readonly #ring: EvictionRing;
  readonly #slots: readonly Slot[];
  // Reused between calls: results are read by the limiter before the next call can start.
  readonly #result: number[];

  constructor(ring: EvictionRing, rules: readonly ResolvedRule[], tables: readonly Table[]) {
    this.#ring = ring;
    this.#slots = rules.map((rule, i) => ({
      rule,
      table: tables[i] as Table,
      out: { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 },
      state: undefined,
      fresh: false,
    }));
    this.#result = new Array<number>(1 + 4 * rules.length).fill(0);
  }

  /**
   * The one decision routine (consume and peek): loads (or creates, unattached) each rule's state and
   * evaluates a request of `cost`. Stale state is used as is: every algorithm normalises it (rolls
   * windows, refills, prunes), which is cheaper than checking expiry. Each use is recorded for
   * eviction (see EvictionRing): one field write, no Map operation. True when every rule allows.
   */
  #evaluate(key: string, cost: number, now: number): boolean {
    const slots = this.#slots;
    const mark = this.#ring.mark;
    let all = true;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as Slot;
      const table = slot.table;
      let state = table.map.get(key);
      slot.fresh = state === undefined;
      if (state === undefined) state = table.impl.create(now, slot.rule);
      slot.state = state;
      if (state.blk > now) blockedNow(slot.out, state.blk - now);
      else {
        state.blk = mark;
        table.impl.evaluate(state, now, slot.rule, cost, slot.out);
      }
      if (!slot.out.allowed) all = false;
    }
    return all;
  }

  consume(key: string, cost: number, now: number): RawResult {
    const all = this.#evaluate(key, cost, now);
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as Slot;
      const state = slot.state as BaseState;
      const rule = slot.rule;
      const out = slot.out;
      let keep = false;
      if (all) {
        slot.table.impl.commit(state, now, rule, cost);
        keep = true;
      } else if (out.allowed) {
        // Allowed by this rule but refused by another: nothing is consumed, so report what is left.
        out.remaining += cost;
      } else if (rule.blockForMs > 0 && state.blk <= now && out.retryAfterMs !== Number.POSITIVE_INFINITY) {
        state.blk = now + rule.blockForMs;
        blocked(out, Math.max(out.retryAfterMs, rule.blockForMs));
        keep = true;
      }
      if (!keep) slot.fresh = false;
    }
    // Inserted only once every rule has committed: making room may visit (or drop) this key's
    // other states, so they must already hold this request.
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as Slot;
      if (slot.fresh) this.#ring.insert(slot.table, key, slot.state as BaseState, now);
      slot.state = undefined;
    }
    return this.#write(now);
  }

  peek(key: string, now: number): RawResult {
    this.#evaluate(key, 1, now);
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as Slot;
      // What is left now: the evaluated request of 1 is not taken.
      if (slot.out.allowed) slot.out.remaining += 1;
      slot.state = undefined;
    }
    return this.#write(now);
  }

  refund(key: string, cost: number, now: number, chargedAt: number): void {
    for (const slot of this.#slots) {
      const state = slot.table.map.get(key);
      if (state !== undefined && !isExpired(slot.table, state, now)) slot.table.impl.refund(state, now, slot.rule, cost, chargedAt);
    }
  }

  reset(key: string | undefined): void {
    for (const slot of this.#slots) {
      if (key === undefined) this.#ring.clear(slot.table);
      else this.#ring.delete(slot.table, key);
    }
  }

  #write(now: number): RawResult {
    const r = this.#result;
    const slots = this.#slots;
    r[0] = now;
    for (let i = 0, j = 1; i < slots.length; i++, j += 4) {
      const out = (slots[i] as Slot).out;
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
