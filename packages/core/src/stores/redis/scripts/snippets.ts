/**
 * Lua fragments pasted into the twins where they are used rather than defined as shared functions:
 * every `local function` of a script is a closure built again on each call (about as costly as a
 * Redis command here), and the driver inlines the twins' hot functions into the script's body.
 * @internal
 */

/** Drops key `k` (foreign or corrupt state) and counts the repair in `REPAIRED`. */
export const CORRUPT = (k: string): string => `redis.call('DEL', ${k}); REPAIRED = REPAIRED + 1`;

/**
 * A key's first command: `redis.pcall(args)` into `v` (declared by the caller); a WRONGTYPE or
 * non-integer error drops the key (`k`, foreign state) and runs the command again. Later commands on
 * the same key use `redis.call`: its type is known by then.
 */
export const FIRST = (v: string, k: string, args: string): string => `${v} = redis.pcall(${args})
  if type(${v}) == 'table' and ${v}.err then
    if not (string.find(${v}.err, 'WRONGTYPE', 1, true) or string.find(${v}.err, 'not an integer', 1, true)) then error(${v}) end
    ${CORRUPT(k)}
    ${v} = redis.call(${args})
  end`;

/**
 * Hash field `f` of `k` read as `v` (a bulk string or false) into the number `x` (declared by the
 * caller, 0 when absent): a value that is not an integer counts as 0 and is dropped (window twins).
 */
export const HNUM = (x: string, v: string, k: string, f: string): string => `if ${v} then
    ${x} = tonumber(${v})
    if ${x} == nil or ${x} ~= floor(${x}) then redis.call('HDEL', ${k}, ${f}); REPAIRED = REPAIRED + 1; ${x} = 0 end
  end`;

/**
 * Drops the fields of hash `k` whose window started before `before`, and fields that are no window
 * start at all (a foreign hash, which a comparison with a number would fail on): reported once.
 */
export const HASH_DROP_BEFORE = (k: string, before: string): string => `local foreign = false
      for _, hf in ipairs(redis.call('HKEYS', ${k})) do
        local t = tonumber(hf)
        if t == nil then foreign = true end
        if t == nil or t < ${before} then redis.call('HDEL', ${k}, hf) end
      end
      if foreign then REPAIRED = REPAIRED + 1 end`;

/**
 * Where a twin keeps a rule's state string: its own key (the per-rule layout) or one field of the
 * limiter's hash (the hash layout, `hash-layout.ts`). The twins that store one string per rule are
 * written once against this and built for both.
 * @internal
 */
export interface StateIO {
  /** Reads the state into `v` (declared by the caller): a string, or false when there is none. */
  read(v: string): string;
  /**
   * Declares the locals `names` as the integers of the state string `v` (read, not false), or
   * all nil when it is not a state: `pattern` is its text form's Lua pattern, one capture per name.
   */
  parse(names: readonly string[], pattern: string): string;
  /** The state string of the integer expressions `values` (what `parse` reads back). */
  format(values: readonly string[]): string;
  /** Drops state that does not parse (foreign or corrupt), counted in `REPAIRED`. */
  readonly drop: string;
  /** Writes `value`; the state is empty again at epoch ms `deadAt` (kept `SLACK` longer). */
  write(value: string, deadAt: string): string;
}

/** The per-rule layout: the state is the string at key `k`, written with a TTL (deleted once dead). @internal */
export const KEY_IO: StateIO = {
  read: (v) => FIRST(v, 'k', "'GET', k"),
  parse: (names, pattern) => `local ${names.join(', ')} = string.match(v, '${pattern}')`,
  format: (values) => `sfmt('${values.map(() => '%d').join(' ')}', ${values.join(', ')})`,
  drop: CORRUPT('k'),
  write: (value, deadAt) => `do
    local d = ${deadAt}
    if d > now then redis.call('SET', k, ${value}, 'PX', sfmt('%d', d - now + SLACK)) else redis.call('DEL', k) end
  end`,
};

/**
 * Lua: whether `x` is within the integers a double holds exactly (false for NaN and infinities,
 * which foreign bytes of the right length could decode to; a fraction is left to the twin's
 * arithmetic, cheaper than a test per read and harmless until the next write replaces it).
 */
const IN_RANGE = (x: string): string => `${x} > -9007199254740992 and ${x} < 9007199254740992`;

/**
 * The hash layout: rule `k`'s state is `V[k]` (read by the script's one `HMGET`); a write is staged
 * in the result table, `R[NV + k]` (the value) and `R[ND + k]` (when it is dead), so no table is
 * built for it, and the script writes every staged field with one `HSET`.
 *
 * A field holds its integers as little-endian doubles (`struct.pack('<dd', …)`, 8 bytes each), not
 * text: Lua's `tonumber` on a decimal string (C `strtod`) costs about as much as a Redis command
 * (~2,000 instructions), `string.format` and `string.match` more; a 3-rule decision spent a fifth
 * of its Redis instructions on them (`bench/redis-ir.ts`).
 * @internal
 */
export const FIELD_IO: StateIO = {
  read: (v) => `${v} = V[k]`,
  parse: (names, _pattern) => `local ${names.join(', ')}
      if #v == ${8 * names.length} then
        ${names.join(', ')} = struct.unpack('<${'d'.repeat(names.length)}', v)
        if not (${names.map(IN_RANGE).join(' and ')}) then ${names[0]} = nil end
      end`,
  format: (values) => `struct.pack('<${'d'.repeat(values.length)}', ${values.join(', ')})`,
  drop: `redis.call('HDEL', K, sfmt('%d', k)); REPAIRED = REPAIRED + 1`,
  write: (value, deadAt) => `R[NV + k], R[ND + k] = ${value}, ${deadAt}`,
};
