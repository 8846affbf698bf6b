import type { AlgorithmImpl, BaseState, Outcome } from '../algorithms/types';
import type { ResolvedRule } from '../rules';

/** State of one rule (namespace = prefix + rule id) for every key. */
export interface Table {
  readonly impl: AlgorithmImpl<BaseState>;
  /** The rule the table was created for; its window bounds expiry. */
  rule: ResolvedRule;
  readonly map: Map<string, BaseState>;
}

/** Sweep visits each insertion adds to the sweep's allowance (which is banked up to one lap). */
const VISITS_PER_INSERT = 16;
/** How far past a droppable live state the sweep looks for expired state, which costs nothing to drop. */
const LOOKAHEAD = 8;

const EXPIRED = -2;
const UNPROTECTED = -1;

/**
 * Every state of a {@link MemoryStore} in one ring, in every table, and the choice of which to drop
 * when the store is full (see `docs/memory-store.md` for the guarantee and its proof).
 *
 * A state's last use is recorded in its `blk` field, which the memory store only needs while the
 * key is blocked: `blk > 0` is a `blockFor` deadline (epoch ms); `blk ≤ 0` means "not blocked" and
 * holds the {@link mark} of its last use, a counter that goes down by one per insertion. Recording
 * a use is one field write, no Map operation, and every `blk > now` test still reads "not blocked"
 * (marks are ≤ 0 ≤ now).
 *
 * The ring holds one (key, table) slot per tracked state; one hand sweeps it (CLOCK). A new key
 * always goes right behind the hand (into the slot of the state just dropped), so the sweep meets
 * it again only after a whole lap. `reset(key)` empties the state in place (it is then expired:
 * free to drop) and `reset()` removes the table's slots, so every slot always holds a live state.
 *
 * @internal
 */
export class EvictionRing {
  /** `−(insertions so far)`: the value a use writes into `blk`. */
  mark = 0;
  /** Tracked states, over every table. */
  size = 0;
  readonly #maxKeys: number;
  /** Protection after the last use, in insertions, of any state. */
  readonly #lowGuard: number;
  /** Protection after the last use, in insertions, of a state whose loss would give away 2+ units. */
  readonly #highGuard: number;
  readonly #keys: string[] = [];
  /**
   * The table of each slot, once a second table has keys; until then every slot belongs to
   * {@link #sole} and this array is not needed (8 B per key saved in the common one-rule store).
   */
  #owners: Table[] | undefined;
  #sole: Table | undefined;
  #hand = 0;
  /** Sweep visits available; earned by insertions, spent by visits, capped at one lap. */
  #bank = 0;
  /** Scratch outcome for valuing a state. */
  readonly #probe: Outcome = { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 };
  /** Side result of {@link #judge}: how long ago the state was used, in insertions. */
  #age = 0;

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
    this.#lowGuard = Math.floor(maxKeys / 2);
    this.#highGuard = 3 * maxKeys;
  }

  /** Adds fresh `state` for `key` (absent from `table`), dropping one tracked state first if the store is full. */
  insert(table: Table, key: string, state: BaseState, now: number): void {
    const mark = --this.mark;
    // A fresh state is never blocked (a fresh key is only denied a cost no rule can pass).
    if (state.blk <= 0) state.blk = mark;
    this.#bank += VISITS_PER_INSERT;
    const keys = this.#keys;
    if (table !== this.#sole && this.#owners === undefined) {
      if (keys.length === 0) this.#sole = table;
      else this.#owners = new Array<Table>(keys.length).fill(this.#sole as Table);
    }
    const owners = this.#owners;
    if (this.size >= this.#maxKeys) {
      const slot = this.#makeRoom(now);
      keys[slot] = key;
      if (owners !== undefined) owners[slot] = table;
    } else {
      const hand = this.#hand;
      if (hand < keys.length) {
        // Room left by `reset()`: the new key still goes right behind the sweep; the state it
        // displaces goes to the end of the ring, still ahead of the sweep.
        keys.push(keys[hand] as string);
        keys[hand] = key;
        if (owners !== undefined) {
          owners.push(owners[hand] as Table);
          owners[hand] = table;
        }
      } else {
        keys.push(key);
        owners?.push(table);
      }
      this.#hand = hand + 1;
    }
    table.map.set(key, state);
    this.size++;
  }

  /**
   * Forgets the count of `key` in `table`. The state is emptied in place rather than deleted: it is
   * then expired, so the sweep drops it for free, and its slot stays valid (a deleted key coming
   * back would get a second slot).
   */
  delete(table: Table, key: string): void {
    const state = table.map.get(key);
    if (state !== undefined) Object.assign(state, table.impl.create(0, table.rule));
  }

  /** Forgets every key of `table`, and its slots, keeping the order of the others. */
  clear(table: Table): void {
    this.size -= table.map.size;
    table.map.clear();
    const keys = this.#keys;
    const owners = this.#owners;
    if (owners === undefined) {
      if (table === this.#sole) {
        keys.length = 0;
        this.#hand = 0;
      }
      return;
    }
    let hand = this.#hand;
    let kept = 0;
    for (let i = 0; i < keys.length; i++) {
      if (owners[i] === table) {
        if (i < this.#hand) hand--;
        continue;
      }
      keys[kept] = keys[i] as string;
      owners[kept] = owners[i] as Table;
      kept++;
    }
    keys.length = kept;
    owners.length = kept;
    this.#hand = hand;
  }

  #ownerAt(slot: number): Table {
    return (this.#owners === undefined ? this.#sole : this.#owners[slot]) as Table;
  }

  /**
   * Drops one state and returns its slot. The sweep drops the first state it meets that is expired
   * or unprotected (preferring expired state a few slots further on); protected state is dropped
   * only when the sweep's allowance is spent, and then the least valuable of those just visited.
   */
  #makeRoom(now: number): number {
    const keys = this.#keys;
    const owners = this.#owners;
    const n = keys.length;
    if (this.#bank > n) this.#bank = n;
    let hand = this.#hand;
    let best = -1;
    let bestValue = Number.POSITIVE_INFINITY;
    let bestAge = Number.NEGATIVE_INFINITY;
    for (;;) {
      if (hand >= n) hand = 0;
      const table = this.#ownerAt(hand);
      const key = keys[hand] as string;
      const state = table.map.get(key);
      const bank = --this.#bank;
      if (state !== undefined) {
        // Valuing a state runs its algorithm: only worth it for the visits a forced drop chooses from.
        const rank = bank < VISITS_PER_INSERT;
        const verdict = this.#judge(table, state, now, rank);
        if (verdict < 0) {
          this.#hand = hand + 1;
          if (verdict === UNPROTECTED) {
            const ahead = this.#expiredAhead(hand, n, now);
            if (ahead >= 0) {
              // Drop the expired state instead; the live one moves to its slot, ahead of the sweep.
              this.#dropAt(ahead);
              keys[ahead] = key;
              if (owners !== undefined) owners[ahead] = table;
              return hand;
            }
          }
          this.#dropAt(hand);
          return hand;
        }
        if (rank && (verdict < bestValue || (verdict === bestValue && this.#age > bestAge))) {
          best = hand;
          bestValue = verdict;
          bestAge = this.#age;
        }
      }
      hand++;
      if (bank <= 0 && best >= 0) {
        // Allowance spent: every state met was protected. Drop the least valuable of the last visits.
        this.#hand = hand;
        this.#dropAt(best);
        return best;
      }
    }
  }

  /**
   * `EXPIRED`, `UNPROTECTED`, or (protected) the state's value when `rank`, else 0. The value is
   * what forgetting it would give away, in units; `Infinity` while blocked. Sets {@link #age}.
   */
  #judge(table: Table, state: BaseState, now: number, rank: boolean): number {
    const blk = state.blk;
    if (blk > now) {
      // Blocked: protected until the block ends; among blocked states the one ending first ranks lowest.
      this.#age = now - blk;
      return Number.POSITIVE_INFINITY;
    }
    if (table.impl.expiresAt(state, table.rule) <= now) return EXPIRED;
    let age = 0;
    // A block that ended holds no mark: its end, as first seen here, counts as the last use.
    if (blk > 0) state.blk = this.mark;
    else age = blk - this.mark;
    this.#age = age;
    if (age > this.#highGuard) return UNPROTECTED;
    if (age <= this.#lowGuard && !rank) return 0;
    const used = usedUnits(table, state, now, this.#probe);
    return age <= this.#lowGuard || used >= 2 ? used : UNPROTECTED;
  }

  /** The slot of an expired state among the next {@link LOOKAHEAD} after `from`, or −1. */
  #expiredAhead(from: number, n: number, now: number): number {
    const keys = this.#keys;
    for (let i = 1; i <= LOOKAHEAD && i < n; i++) {
      const slot = from + i < n ? from + i : from + i - n;
      const table = this.#ownerAt(slot);
      const state = table.map.get(keys[slot] as string);
      if (state !== undefined && state.blk <= now && table.impl.expiresAt(state, table.rule) <= now) return slot;
    }
    return -1;
  }

  #dropAt(slot: number): void {
    this.#ownerAt(slot).map.delete(this.#keys[slot] as string);
    this.size--;
  }
}

/** Units a state has used (its capacity minus what is left now); values a state for eviction. */
function usedUnits(table: Table, state: BaseState, now: number, out: Outcome): number {
  // Evaluating only normalises the state (rolls a window, refills a bucket): it never changes its meaning.
  table.impl.evaluate(state, now, table.rule, 1, out);
  return table.rule.burst - (out.allowed ? out.remaining + 1 : out.remaining);
}
