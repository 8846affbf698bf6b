import type { IncomingHttpHeaders } from 'node:http';
import type { RateLimitOptions } from '@ratekeeper/core';
import type { RequestDecision } from '@ratekeeper/core/http';

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
 * - `GET /login` and `GET /reset` use the request's decision (Express `req.rateLimit`, Fastify
 *   `request.rateLimit`, Koa `ctx.state.rateLimit`), as {@link login} and {@link resetKey} say
 * - `GET /hold` waits until the test lets it answer (see {@link hold})
 * A fake auth step turns `Authorization: Bearer <plan>` into an `x-plan: <plan>` request header
 * before the limiters run. An error that takes the framework's error path (`next(err)`, a hook's
 * `done(err)`, a rejected middleware) is answered `500` with the text `error: <message>`.
 */
export interface AppSetup {
  /** Limiters, applied in order. */
  limiters: SuiteOptions[];
  /**
   * `'app'`: app-wide middleware/plugin; `'route'`: on each route (route patterns known);
   * `'app+route'`: exactly two limiters, `limiters[0]` app-wide (Express and Koa `app.use`, the
   * Fastify plugin's options) and `limiters[1]` on each route (route middleware, Fastify
   * `config: { rateLimit }`). @default 'app'
   */
  mode?: 'app' | 'route' | 'app+route';
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
  /**
   * The request's end is its handler's (web, Hono): a streamed body such as `/abort` has ended as
   * far as the limiter knows once the handler returned it. @default false (Node adapters: the response's close)
   */
  readonly endsWithHandler?: boolean;
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

/** How a route answers: status, text body, extra headers. */
export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** Headers telling the test what the decision held: the units the request took. */
function decisionHeaders(decision: RequestDecision): Record<string, string> {
  return { 'x-cost-taken': String(decision.cost) };
}

/**
 * `GET /login`: a login handler that gives the attempt back when it succeeds. With `x-ok: yes` it
 * awaits `decision.refund()` (or `refund(n)` with `x-refund: n`) and answers 200, else 401; the
 * body is the key the request was counted under. 500 `no decision` when no limiter counted it.
 */
export async function login(decision: RequestDecision | undefined, headers: IncomingHttpHeaders): Promise<Answer> {
  if (decision === undefined) return { status: 500, body: 'no decision', headers: {} };
  if (headers['x-ok'] !== 'yes') return { status: 401, body: decision.key, headers: decisionHeaders(decision) };
  const units = headers['x-refund'];
  await (units === undefined ? decision.refund() : decision.refund(Number(units)));
  return { status: 200, body: decision.key, headers: decisionHeaders(decision) };
}

/** `GET /reset`: awaits `decision.reset()` and answers 200 with the key (500 `no decision` without one). */
export async function resetKey(decision: RequestDecision | undefined): Promise<Answer> {
  if (decision === undefined) return { status: 500, body: 'no decision', headers: {} };
  await decision.reset();
  return { status: 200, body: decision.key, headers: decisionHeaders(decision) };
}

/** The two limiters of `'app+route'` mode: app-wide, then per route. */
export function twoLimiters<T>(limiters: readonly T[]): [T, T] {
  const [appWide, perRoute] = limiters;
  if (limiters.length !== 2 || appWide === undefined || perRoute === undefined)
    throw new Error("mode 'app+route' takes two limiters: app-wide, then per route");
  return [appWide, perRoute];
}

/** How a held `/hold` request ends: 200, a 500 answer, or a thrown error (the framework's error path). */
export type HoldEnd = 'ok' | 'fail' | 'throw';

interface Held {
  readonly arrived: Promise<void>;
  readonly onArrive: () => void;
  readonly end: Promise<HoldEnd>;
  readonly onEnd: (end: HoldEnd) => void;
}

const holds = new Map<string, Held>();

function heldOf(id: string): Held {
  let h = holds.get(id);
  if (h === undefined) {
    let onArrive: () => void = () => {};
    let onEnd: (end: HoldEnd) => void = () => {};
    const arrived = new Promise<void>((r) => {
      onArrive = r;
    });
    const end = new Promise<HoldEnd>((r) => {
      onEnd = r;
    });
    h = { arrived, onArrive, end, onEnd };
    holds.set(id, h);
  }
  return h;
}

/** The test's side of `/hold`: each held request is named by its `x-hold` header. */
export const gate = {
  /** Resolves once the handler of `id` runs (every limiter let the request through). */
  arrived: (id: string): Promise<void> => heldOf(id).arrived,
  /** Lets the handler of `id` end as told. */
  open: (id: string, end: HoldEnd = 'ok'): void => heldOf(id).onEnd(end),
};

/**
 * `GET /hold`: a handler that waits until the test calls `gate.open(x-hold)`, then answers 200
 * `held`, 500 `held` (`'fail'`), or throws `held handler failed` (`'throw'`).
 */
export async function hold(headers: IncomingHttpHeaders): Promise<Answer> {
  const id = String(headers['x-hold']);
  const h = heldOf(id);
  h.onArrive();
  const end = await h.end;
  holds.delete(id);
  if (end === 'throw') throw new Error('held handler failed');
  return { status: end === 'fail' ? 500 : 200, body: 'held', headers: {} };
}
