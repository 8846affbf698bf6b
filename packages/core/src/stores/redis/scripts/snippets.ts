/**
 * Lua fragments pasted into the twins where they are used rather than defined as shared functions:
 * every `local function` of a script is a closure built again on each call (about as costly as a
 * Redis command here), and these run only on rare paths.
 * @internal
 */

/** Drops key `k` (foreign or corrupt state) and counts the repair in `REPAIRED`. */
export const CORRUPT = (k: string): string => `redis.call('DEL', ${k}); REPAIRED = REPAIRED + 1`;

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
