import { ALGORITHM_IMPLS } from '../algorithms/index';
import type { AlgorithmImpl, BaseState, Outcome } from '../algorithms/types';
import { ConfigError, rejectUnknownOptions } from '../errors/config-error';
import type { ResolvedRule } from '../rules';
import type { BoundStore, RawResult, Store } from './types';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most keys tracked at once (over all limiters using this store). When full, expired state is
   * dropped first; only if none is expired is the live state that expires soonest dropped (see
   * {@link MemoryStore}).
   * @default 1_000_000
   */
  maxKeys?: number;
}

/** State of one rule (namespace = prefix + rule id) for every key. */
interface Table {
  readonly impl: AlgorithmImpl<BaseState>;
  /** The rule the table was created for; its window bounds expiry. */
  rule: ResolvedRule;
  readonly map: Map<string, BaseState>;
  /**
   * Where the eviction sweep left off. Resuming one iterator matters: a fresh iterator walks over
   * every entry deleted at the front of the Map since its last rehash, which made each eviction
   * O(deleted) under a flood of new keys (~90 µs per insert at 100k keys).
   */
  cursor?: Iterator<[string, BaseState]> | undefined;
}

/** How many of the oldest entries one insertion into a full store inspects. */
const SCAN = 32;

/**
 * The embedded default store: state in plain objects in one `Map` per rule, decided synchronously
 * (no `await` between read and write, so every decision is atomic). Bounded by `maxKeys`; expired
 * state is dropped lazily when met and when room is needed. No timers: nothing keeps the process
 * alive. Time comes from the limiter's monotonic clock.
 *
 * Eviction is an approximate least-recently-used policy that cannot be abused to reset a live
 * counter cheaply: a full store inspects the next 32 entries (in insertion order) of the table it
 * inserts into and drops the expired ones; only when all are live does it drop the one that
 * expires soonest, i.e. the one used least recently at window granularity (a key used in the
 * current window outlives one last used in the previous window). Moving entries on every hit
 * would make exact LRU, at two extra Map operations per decision.
 *
 * @example
 * const limiter = createLimiter({ limit: 100, window: '1m', store: new MemoryStore({ maxKeys: 100_000 }) });
 */
export class MemoryStore implements Store {
  /** The bound on tracked keys. */
  readonly maxKeys: number;
  readonly #tables = new Map<string, Table>();
  #size = 0;

  constructor(options: MemoryStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
    rejectUnknownOptions(options, ['maxKeys']);
    const maxKeys = options.maxKeys ?? 1_000_000;
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new ConfigError('maxKeys', 'a positive integer', maxKeys);
    this.maxKeys = maxKeys;
  }

  /** Number of keys currently tracked (over all rules), expired ones included until dropped. */
  get size(): number {
    return this.#size;
  }

  /** @internal */
  bind(rules: readonly ResolvedRule[], prefix: string): BoundStore {
    const tables = rules.map((rule) => this.#table(prefix + rule.id, rule));
    return new BoundMemoryStore(this, rules, tables);
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

  /** @internal Inserts fresh state for `key`, making room first if the store is full. */
  insert(table: Table, key: string, state: BaseState, now: number): void {
    if (this.#size >= this.maxKeys) this.#evict(table, now);
    table.map.set(key, state);
    this.#size++;
  }

  /** @internal */
  delete(table: Table, key: string): void {
    if (table.map.delete(key)) this.#size--;
  }

  /** @internal */
  clear(table: Table): void {
    this.#size -= table.map.size;
    table.map.clear();
    table.cursor = undefined;
  }

  #evict(preferred: Table, now: number): void {
    let table = preferred;
    if (table.map.size === 0) {
      for (const t of this.#tables.values()) if (t.map.size > table.map.size) table = t;
    }
    // Expired state first; if all of the oldest are live, the one closest to expiring (the least
    // to lose). A live counter is only lost after `maxKeys` other keys arrived while it was idle.
    let scanned = 0;
    let freed = 0;
    let victim: string | undefined;
    let victimExpiry = Number.POSITIVE_INFINITY;
    const budget = Math.min(SCAN, table.map.size);
    let cursor = table.cursor;
    while (scanned < budget) {
      let next = cursor?.next();
      if (next === undefined || next.done) {
        // End of the sweep: start again from the oldest entry.
        cursor = table.map.entries();
        next = cursor.next();
        if (next.done) break;
      }
      const [key, state] = next.value;
      const expiry = Math.max(state.blk, table.impl.expiresAt(state, table.rule));
      if (expiry <= now) {
        table.map.delete(key);
        freed++;
      } else if (expiry < victimExpiry) {
        victim = key;
        victimExpiry = expiry;
      }
      scanned++;
    }
    table.cursor = cursor;
    if (freed === 0 && victim !== undefined) {
      table.map.delete(victim);
      freed = 1;
    }
    this.#size -= freed;
  }
}

function isExpired(table: Table, state: BaseState, now: number): boolean {
  return state.blk <= now && table.impl.expiresAt(state, table.rule) <= now;
}

const ALLOWED = 1;
const DENIED = 0;

class BoundMemoryStore implements BoundStore {
  readonly #store: MemoryStore;
  readonly #rules: readonly ResolvedRule[];
  readonly #tables: readonly Table[];
  readonly #states: (BaseState | undefined)[];
  readonly #fresh: boolean[];
  readonly #outcomes: Outcome[];
  // Reused between calls: results are read by the limiter before the next call can start.
  readonly #result: number[];

  constructor(store: MemoryStore, rules: readonly ResolvedRule[], tables: readonly Table[]) {
    this.#store = store;
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
      table.impl.evaluate(state, now, rule, cost, out);
      if (out.allowed) {
        table.impl.commit(state, now, rule, cost);
        if (fresh) this.#store.insert(table, key, state, now);
      } else if (rule.blockForMs > 0 && out.retryAfterMs !== Number.POSITIVE_INFINITY) {
        state.blk = now + rule.blockForMs;
        blocked(out, Math.max(out.retryAfterMs, rule.blockForMs));
        if (fresh) this.#store.insert(table, key, state, now);
      }
    }
    return this.#write(now);
  }

  consume(key: string, cost: number, now: number): RawResult {
    const n = this.#rules.length;
    if (n === 1) return this.#consumeOne(key, cost, now);
    let allAllowed = true;
    for (let i = 0; i < n; i++) {
      const state = this.#load(i, key, now);
      this.#states[i] = state;
      const out = this.#outcomes[i] as Outcome;
      if (state.blk > now) blockedNow(out, state.blk - now);
      else (this.#tables[i] as Table).impl.evaluate(state, now, this.#rules[i] as ResolvedRule, cost, out);
      if (!out.allowed) allAllowed = false;
    }
    for (let i = 0; i < n; i++) {
      const state = this.#states[i] as BaseState;
      const table = this.#tables[i] as Table;
      const rule = this.#rules[i] as ResolvedRule;
      const out = this.#outcomes[i] as Outcome;
      if (allAllowed) {
        table.impl.commit(state, now, rule, cost);
        if (this.#fresh[i]) this.#store.insert(table, key, state, now);
      } else if (out.allowed) {
        // Allowed by this rule but refused by another: nothing is consumed, so report what is left.
        out.remaining += cost;
      } else if (rule.blockForMs > 0 && state.blk <= now && out.retryAfterMs !== Number.POSITIVE_INFINITY) {
        state.blk = now + rule.blockForMs;
        blocked(out, Math.max(out.retryAfterMs, rule.blockForMs));
        if (this.#fresh[i]) this.#store.insert(table, key, state, now);
      }
      this.#states[i] = undefined;
    }
    return this.#write(now);
  }

  peek(key: string, now: number): RawResult {
    const n = this.#rules.length;
    for (let i = 0; i < n; i++) {
      const state = this.#load(i, key, now);
      const out = this.#outcomes[i] as Outcome;
      if (state.blk > now) blockedNow(out, state.blk - now);
      else {
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
      if (key === undefined) this.#store.clear(table);
      else this.#store.delete(table, key);
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
