import type { IncomingHttpHeaders } from 'node:http';
import type { RateLimitOptions } from '@ratekeeper/core';

/** What the shared suite's functions read from a request: every framework's request has `headers`. */
export interface HasHeaders {
  headers: IncomingHttpHeaders;
}

/** Options as the suite writes them, once for all adapters. */
export type SuiteOptions = RateLimitOptions<HasHeaders>;

/**
 * The app every adapter builds, with the same routes:
 * - `GET /ok` 200 `ok`, `GET /bad` 400, `GET /fail` 500, `GET /users/:id` 200
 * - `GET /abort` sends a 503 status line and part of a body, then waits for the client to go away
 * A fake auth step turns `Authorization: Bearer <plan>` into an `x-plan: <plan>` request header
 * before the limiters run. An error that takes the framework's error path (`next(err)`, a hook's
 * `done(err)`, a rejected middleware) is answered `500` with the text `error: <message>`.
 */
export interface AppSetup {
  /** Limiters, applied in order. */
  limiters: SuiteOptions[];
  /** `'app'`: app-wide middleware/plugin; `'route'`: on each route (route patterns known). @default 'app' */
  mode?: 'app' | 'route';
  /** Whether the framework trusts X-Forwarded-For. @default true */
  trustProxy?: boolean;
}

/** A running app on 127.0.0.1. */
export interface RunningApp {
  readonly url: string;
  /** Resolves when the response of the last `/abort` request has closed. */
  abortClosed(): Promise<void>;
  close(): Promise<void>;
}

/** One adapter, as the conformance suite sees it. */
export interface Harness {
  readonly name: string;
  start(setup: AppSetup): Promise<RunningApp>;
}

/** Shared plumbing for the `/abort` route: resolves once per request. */
export function abortTracker(): { closed(): Promise<void>; onClose(): void } {
  let resolve: () => void = () => {};
  let pending = new Promise<void>((r) => {
    resolve = r;
  });
  return {
    closed: () => pending,
    onClose: () => {
      resolve();
      pending = new Promise<void>((r) => {
        resolve = r;
      });
    },
  };
}

/** The fake auth step: `Authorization: Bearer pro` → `x-plan: pro`. */
export function fakeAuth(headers: IncomingHttpHeaders): void {
  const auth = headers.authorization;
  if (auth?.startsWith('Bearer ')) headers['x-plan'] = auth.slice(7);
}
