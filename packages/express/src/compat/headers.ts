import { createHash } from 'node:crypto';
import type { Response } from 'express';
import type { RateLimitInfo } from './types';

/**
 * express-rate-limit's header formats, value for value. They differ from ratekeeper's own in small
 * ways clients may parse (draft-8 items with `; ` and a `pk` partition key, reset seconds that may
 * be 0, no `X-RateLimit-Reset` when the store gives no reset time), so they are written here.
 * Nothing is written once the headers are sent.
 */

/** The response as the header writers use it (Express's `append` for the draft-8 lists). */
type HeaderTarget = Pick<Response, 'setHeader'> & Partial<Pick<Response, 'headersSent' | 'append'>>;

/** Seconds until the reset time (never negative), or the window's when the store gave none. */
export function resetSeconds(windowMs: number, resetTime: Date | undefined): number {
  if (resetTime === undefined) return Math.ceil(windowMs / 1000);
  return Math.max(0, Math.ceil((resetTime.getTime() - Date.now()) / 1000));
}

/** `X-RateLimit-Limit`, `-Remaining`, and with a reset time `-Reset` (epoch seconds) and `Date`. */
export function setLegacyHeaders(res: HeaderTarget, info: RateLimitInfo): void {
  if (res.headersSent) return;
  res.setHeader('X-RateLimit-Limit', `${info.limit}`);
  res.setHeader('X-RateLimit-Remaining', `${info.remaining}`);
  if (info.resetTime instanceof Date) {
    // The server's clock beside the epoch reset, for clients whose clock is off.
    res.setHeader('Date', new Date().toUTCString());
    res.setHeader('X-RateLimit-Reset', `${Math.ceil(info.resetTime.getTime() / 1000)}`);
  }
}

/** Draft 6: `RateLimit-Policy: 5;w=60` and separate `RateLimit-Limit`, `-Remaining`, `-Reset`. */
export function setDraft6Headers(res: HeaderTarget, info: RateLimitInfo, windowMs: number): void {
  if (res.headersSent) return;
  res.setHeader('RateLimit-Policy', `${info.limit};w=${Math.ceil(windowMs / 1000)}`);
  res.setHeader('RateLimit-Limit', `${info.limit}`);
  res.setHeader('RateLimit-Remaining', `${info.remaining}`);
  res.setHeader('RateLimit-Reset', `${resetSeconds(windowMs, info.resetTime)}`);
}

/** Draft 7: `RateLimit-Policy: 5;w=60` and `RateLimit: limit=5, remaining=4, reset=60`. */
export function setDraft7Headers(res: HeaderTarget, info: RateLimitInfo, windowMs: number): void {
  if (res.headersSent) return;
  res.setHeader('RateLimit-Policy', `${info.limit};w=${Math.ceil(windowMs / 1000)}`);
  res.setHeader('RateLimit', `limit=${info.limit}, remaining=${info.remaining}, reset=${resetSeconds(windowMs, info.resetTime)}`);
}

/**
 * Draft 8: one named item per limiter, appended to what earlier limiters of the request wrote:
 * `RateLimit: "5-in-1min"; r=4; t=60` and `RateLimit-Policy: "5-in-1min"; q=5; w=60; pk=:…:`.
 */
export function setDraft8Headers(res: HeaderTarget, info: RateLimitInfo, windowMs: number, name: string, key: string): void {
  if (res.headersSent) return;
  const rate = `"${name}"; r=${info.remaining}; t=${resetSeconds(windowMs, info.resetTime)}`;
  const policy = `"${name}"; q=${info.limit}; w=${Math.ceil(windowMs / 1000)}; pk=:${partitionKey(key)}:`;
  if (typeof res.append === 'function') {
    res.append('RateLimit', rate);
    res.append('RateLimit-Policy', policy);
  } else {
    res.setHeader('RateLimit', rate);
    res.setHeader('RateLimit-Policy', policy);
  }
}

/** `Retry-After`: the seconds until the reset time (the window's without one). */
export function setRetryAfterHeader(res: HeaderTarget, info: RateLimitInfo, windowMs: number): void {
  if (res.headersSent) return;
  res.setHeader('Retry-After', `${resetSeconds(windowMs, info.resetTime)}`);
}

/**
 * The draft-8 partition key: the first 12 hex digits of the key's SHA-256, as base64 of those
 * characters (16 characters: the client is recognisable across responses, the key is not shown).
 */
function partitionKey(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex').slice(0, 12);
  return Buffer.from(hex).toString('base64');
}

/** The default draft-8 quota name: `5-in-1min`, `1-in-5sec`, `8-in-2days`. */
export function defaultIdentifier(limit: number, windowMs: number): string {
  const seconds = windowMs / 1000;
  const minutes = seconds / 60;
  const hours = minutes / 60;
  const days = hours / 24;
  let duration: string;
  if (seconds < 60) duration = `${seconds}sec`;
  else if (minutes < 60) duration = `${minutes}min`;
  else if (hours < 24) duration = `${hours}hr${hours > 1 ? 's' : ''}`;
  else duration = `${days}day${days > 1 ? 's' : ''}`;
  return `${limit}-in-${duration}`;
}
