/**
 * How long a server asked us to stay away, in ms, from the headers of a 429/503 response; `undefined`
 * when it did not say. Sources, first match wins:
 * - `Retry-After`: delay-seconds (`120`) or an HTTP-date (RFC 9110), the date measured against `now`;
 * - `RateLimit` (IETF draft-8 and later): the largest `t` among exhausted items (`r=0`), else among all;
 *   draft-7's `reset=` in the same header;
 * - `RateLimit-Reset` (draft-6): delta-seconds.
 * @param now the current epoch time in ms, used only for HTTP-dates
 */
export function retryAfterFromHeaders(headers: Headers, now: number): number | undefined {
  const retryAfter = headers.get('retry-after');
  if (retryAfter !== null) {
    const ms = parseRetryAfter(retryAfter, now);
    if (ms !== undefined) return ms;
  }
  const rateLimit = headers.get('ratelimit');
  if (rateLimit !== null) {
    const ms = parseRateLimit(rateLimit);
    if (ms !== undefined) return ms;
  }
  const reset = headers.get('ratelimit-reset');
  if (reset !== null && /^\s*\d+\s*$/.test(reset)) return Number(reset) * 1000;
  return undefined;
}

/** `Retry-After`: delay-seconds or HTTP-date; `undefined` when malformed. */
export function parseRetryAfter(value: string, now: number): number | undefined {
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // HTTP-dates are in GMT; asctime() carries no zone, and Date.parse would read it as local time.
  let at = Number.NaN;
  if (/GMT$/.test(v)) at = Date.parse(v);
  else if (/^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/.test(v)) at = Date.parse(`${v} GMT`);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The IETF `RateLimit` field: draft-8+ list items with `r`/`t` parameters, or draft-7's `reset=`. */
function parseRateLimit(value: string): number | undefined {
  const reset = /(?:^|[\s,;])reset=(\d+)/.exec(value);
  if (reset) return Number(reset[1]) * 1000;
  let exhausted: number | undefined;
  let any: number | undefined;
  for (const item of value.split(',')) {
    const t = /;\s*t=(\d+)/.exec(item);
    if (!t) continue;
    const seconds = Number(t[1]);
    any = Math.max(any ?? 0, seconds);
    if (/;\s*r=0(?!\d)/.test(item)) exhausted = Math.max(exhausted ?? 0, seconds);
  }
  const seconds = exhausted ?? any;
  return seconds === undefined ? undefined : seconds * 1000;
}
