/**
 * An id's window as koa-ratelimit's memory driver keeps it in the app's Map, under
 * `${namespace}:${id}`: `reset` is the window's end in epoch seconds (with a fraction), `remaining`
 * what the last response said, `total` the limit. The counting itself is ratekeeper's.
 */
export interface WindowEntry {
  id: unknown;
  reset: number;
  remaining: number;
  total: number;
}

/** The window a request falls in. */
export interface CurrentWindow {
  readonly entry: WindowEntry;
  /** Its end, in epoch ms. */
  readonly endMs: number;
  /** The storage key of its counts: the id, prefixed with a token of this window. */
  readonly key: string;
  /** The storage key of the expired window this one replaced, if any. */
  readonly replacedKey: string | undefined;
}

// A token per window, kept beside its entry object (every middleware on the Map reads the same
// object): a window that replaces another at the same instant, after the app cleared the Map,
// must not find the old counts under its key.
const tokens = new WeakMap<object, number>();
let lastToken = 0;

function tokenOf(entry: object): number {
  let token = tokens.get(entry);
  if (token === undefined) {
    token = ++lastToken;
    tokens.set(entry, token);
  }
  return token;
}

/** The end (epoch ms) of a window entry, whatever the app may have put in the Map. */
function endOf(value: unknown): number | undefined {
  const reset = (value as { reset?: unknown } | null | undefined)?.reset;
  // Seconds with a millisecond fraction: rounding undoes the division's float error.
  return typeof reset === 'number' && Number.isFinite(reset) ? Math.round(reset * 1000) : undefined;
}

/**
 * The window of `mapKey` at `now`: a fixed window per id that starts at the id's first request and
 * lasts `durationMs`, as koa-ratelimit's memory driver counts. The Map's entry while it lasts;
 * else (none, expired, or removed by the app) a new one starting now, written to the Map.
 */
export function currentWindow(
  db: Map<unknown, unknown>,
  mapKey: string,
  id: unknown,
  now: number,
  durationMs: number,
  max: number,
): CurrentWindow {
  const existing = db.get(mapKey);
  const end = endOf(existing);
  if (end !== undefined && now < end) {
    const entry = existing as WindowEntry;
    return { entry, endMs: end, key: `${tokenOf(entry)}:${id}`, replacedKey: undefined };
  }
  const endMs = now + durationMs;
  const entry: WindowEntry = { id, reset: endMs / 1000, remaining: max, total: max };
  db.set(mapKey, entry);
  const replacedKey = end === undefined ? undefined : `${tokenOf(existing as object)}:${id}`;
  return { entry, endMs, key: `${tokenOf(entry)}:${id}`, replacedKey };
}
