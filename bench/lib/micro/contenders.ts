import { createRequire } from 'node:module';
import { type Algorithm, createLimiter, type Limiter, MemoryStore, SLIDING_LOG_MAX_LIMIT } from '../../../packages/core/src/index';

// Peers are loaded from bench/node_modules exactly as installed; CommonJS, typed here by the
// few members used (some ship no types for the files we import).
const require = createRequire(import.meta.url);

/** What one measurement configures: the same quota for every contender. */
export interface Workload {
  /** Requests per key per window. */
  readonly limit: number;
  readonly windowMs: number;
  /** Distinct keys the run will touch (sizes LRU caches that would otherwise evict). */
  readonly keys: number;
}

/** One configured limiter ready to decide. */
export interface Instance {
  /** Makes `n` decisions round robin over `keys`, one at a time (awaited if async); returns how many were blocked. */
  run(keys: readonly string[], n: number): number | Promise<number>;
}

/** A rate limiter under test. */
export interface Contender {
  readonly id: string;
  readonly label: string;
  /** Whether it runs through a Promise per decision (the Map floor's async twin is the reference for those). */
  readonly async: boolean;
  /** Largest `limit` it accepts; cells that need more are reported as n/a. */
  readonly maxLimit?: number;
  create(w: Workload): Instance;
  /** Decisions a diagnostics-channel subscriber has recorded so far in this process (`--observe` configurations). */
  recorded?(): Promise<number>;
}

// ── floor: a Map of {count, resetAt} fixed windows ─────────────────────────────

interface Counter {
  count: number;
  resetAt: number;
}

function mapHit(map: Map<string, Counter>, key: string, limit: number, windowMs: number): boolean {
  const now = Date.now();
  const e = map.get(key);
  if (e === undefined || e.resetAt <= now) {
    map.set(key, { count: 1, resetAt: now + windowMs });
    return 1 <= limit;
  }
  return ++e.count <= limit;
}

async function mapHitAsync(map: Map<string, Counter>, key: string, limit: number, windowMs: number): Promise<boolean> {
  return mapHit(map, key, limit, windowMs);
}

function loopMapSync(map: Map<string, Counter>, w: Workload, keys: readonly string[], n: number): number {
  const k = keys.length;
  let blocked = 0;
  for (let i = 0, j = 0; i < n; i++) {
    if (!mapHit(map, keys[j] as string, w.limit, w.windowMs)) blocked++;
    if (++j === k) j = 0;
  }
  return blocked;
}

async function loopMapAsync(map: Map<string, Counter>, w: Workload, keys: readonly string[], n: number): Promise<number> {
  const k = keys.length;
  let blocked = 0;
  for (let i = 0, j = 0; i < n; i++) {
    if (!(await mapHitAsync(map, keys[j] as string, w.limit, w.windowMs))) blocked++;
    if (++j === k) j = 0;
  }
  return blocked;
}

// ── ratekeeper ─────────────────────────────────────────────────────────────────

async function loopRatekeeper(limiter: Limiter, keys: readonly string[], n: number): Promise<number> {
  const k = keys.length;
  let blocked = 0;
  for (let i = 0, j = 0; i < n; i++) {
    const d = await limiter.consume(keys[j] as string);
    if (!d.allowed) blocked++;
    if (++j === k) j = 0;
  }
  return blocked;
}

function loopRatekeeperSync(limiter: Limiter, keys: readonly string[], n: number): number {
  const k = keys.length;
  let blocked = 0;
  for (let i = 0, j = 0; i < n; i++) {
    if (!limiter.consumeSync(keys[j] as string).allowed) blocked++;
    if (++j === k) j = 0;
  }
  return blocked;
}

/** `limiter.consumeSync`: the synchronous path, compared with the sync Map floor and @fastify/rate-limit's sync call. */
function ratekeeperSync(algorithm: Algorithm): Contender {
  return {
    id: `rk-sync-${algorithm}`,
    label: `ratekeeper ${algorithm} consumeSync`,
    async: false,
    create(w) {
      const limiter = createLimiter({ limit: w.limit, window: w.windowMs, algorithm, store: new MemoryStore({ maxKeys: 2_000_000 }) });
      return { run: (keys, n) => loopRatekeeperSync(limiter, keys, n) };
    },
  };
}

function ratekeeper(algorithm: Algorithm): Contender {
  return {
    id: `rk-${algorithm}`,
    label: `ratekeeper ${algorithm}${algorithm === 'sliding-window' ? ' (default)' : ''}`,
    async: true,
    ...(algorithm === 'sliding-log' ? { maxLimit: SLIDING_LOG_MAX_LIMIT } : {}),
    create(w) {
      const limiter = createLimiter({ limit: w.limit, window: w.windowMs, algorithm, store: new MemoryStore({ maxKeys: 2_000_000 }) });
      return { run: (keys, n) => loopRatekeeper(limiter, keys, n) };
    },
  };
}

// ── express-rate-limit MemoryStore ─────────────────────────────────────────────

interface ErlStore {
  init(options: { windowMs: number }): void;
  increment(key: string): Promise<{ totalHits: number }>;
}
const { MemoryStore: ErlMemoryStore } = require('express-rate-limit') as { MemoryStore: new () => ErlStore };

async function loopErl(store: ErlStore, limit: number, keys: readonly string[], n: number): Promise<number> {
  const k = keys.length;
  let blocked = 0;
  for (let i = 0, j = 0; i < n; i++) {
    const r = await store.increment(keys[j] as string);
    if (r.totalHits > limit) blocked++;
    if (++j === k) j = 0;
  }
  return blocked;
}

// ── rate-limiter-flexible RateLimiterMemory ────────────────────────────────────

interface RlfLimiter {
  consume(key: string): Promise<unknown>;
}
const { RateLimiterMemory } = require('rate-limiter-flexible') as {
  RateLimiterMemory: new (o: { points: number; duration: number }) => RlfLimiter;
};

async function loopRlf(rl: RlfLimiter, keys: readonly string[], n: number): Promise<number> {
  const k = keys.length;
  let blocked = 0;
  for (let i = 0, j = 0; i < n; i++) {
    // It signals "blocked" by rejecting, so every user writes this try/catch.
    try {
      await rl.consume(keys[j] as string);
    } catch {
      blocked++;
    }
    if (++j === k) j = 0;
  }
  return blocked;
}

// ── @fastify/rate-limit LocalStore ─────────────────────────────────────────────

interface FastifyCounter {
  current: number;
}
type FastifyCb = (err: Error | null, res: FastifyCounter) => void;
interface FastifyStore {
  incr(key: string, cb: FastifyCb, timeWindow: number, max: number): void;
}
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  cache: number,
) => FastifyStore;

/** Its default LRU holds 5,000 keys; raised so 1M keys are all tracked. */
const FASTIFY_CACHE = 1_000_000;

function loopFastifySync(store: FastifyStore, w: Workload, keys: readonly string[], n: number): number {
  const k = keys.length;
  let blocked = 0;
  // The callback is invoked synchronously by LocalStore.
  const cb: FastifyCb = (_err, res) => {
    if (res.current > w.limit) blocked++;
  };
  for (let i = 0, j = 0; i < n; i++) {
    store.incr(keys[j] as string, cb, w.windowMs, w.limit);
    if (++j === k) j = 0;
  }
  return blocked;
}

function fastifyIncr(store: FastifyStore, key: string, w: Workload): Promise<FastifyCounter> {
  // As the plugin's applyRateLimit does: a Promise around the callback store.
  return new Promise((resolve, reject) => {
    store.incr(key, (err, res) => (err ? reject(err) : resolve(res)), w.windowMs, w.limit);
  });
}

async function loopFastifyPromise(store: FastifyStore, w: Workload, keys: readonly string[], n: number): Promise<number> {
  const k = keys.length;
  let blocked = 0;
  for (let i = 0, j = 0; i < n; i++) {
    const res = await fastifyIncr(store, keys[j] as string, w);
    if (res.current > w.limit) blocked++;
    if (++j === k) j = 0;
  }
  return blocked;
}

// ── koa-ratelimit memory driver ────────────────────────────────────────────────

interface KoaLimiter {
  get(): Promise<{ remaining: number }>;
}
interface KoaOptions {
  db: Map<string, unknown>;
  max: number;
  duration: number;
}
const KoaMemoryLimiter = require('koa-ratelimit/limiter/memory.js') as new (o: KoaOptions & { id: string }) => KoaLimiter;

async function loopKoa(opts: KoaOptions, keys: readonly string[], n: number): Promise<number> {
  const k = keys.length;
  let blocked = 0;
  for (let i = 0, j = 0; i < n; i++) {
    // Its middleware builds a limiter object per request from the spread options.
    const limiter = new KoaMemoryLimiter({ ...opts, id: keys[j] as string });
    const r = await limiter.get();
    if (!r.remaining) blocked++;
    if (++j === k) j = 0;
  }
  return blocked;
}

/** Every contender, in table order. */
export const CONTENDERS: readonly Contender[] = [
  {
    id: 'map-sync',
    label: 'floor: Map counter, sync',
    async: false,
    create(w) {
      const map = new Map<string, Counter>();
      return { run: (keys, n) => loopMapSync(map, w, keys, n) };
    },
  },
  {
    id: 'map-async',
    label: 'floor: Map counter, async fn + await',
    async: true,
    create(w) {
      const map = new Map<string, Counter>();
      return { run: (keys, n) => loopMapAsync(map, w, keys, n) };
    },
  },
  ratekeeper('sliding-window'),
  ratekeeper('fixed-window'),
  ratekeeper('sliding-log'),
  ratekeeper('token-bucket'),
  ratekeeper('gcra'),
  ratekeeperSync('sliding-window'),
  ratekeeperSync('fixed-window'),
  {
    id: 'erl',
    label: 'express-rate-limit MemoryStore.increment',
    async: true,
    create(w) {
      const store = new ErlMemoryStore();
      store.init({ windowMs: w.windowMs });
      return { run: (keys, n) => loopErl(store, w.limit, keys, n) };
    },
  },
  {
    id: 'rlf',
    label: 'rate-limiter-flexible RateLimiterMemory.consume',
    async: true,
    create(w) {
      const rl = new RateLimiterMemory({ points: w.limit, duration: w.windowMs / 1000 });
      return { run: (keys, n) => loopRlf(rl, keys, n) };
    },
  },
  {
    id: 'fastify',
    label: '@fastify/rate-limit LocalStore.incr (sync callback)',
    async: false,
    create(w) {
      const store = new LocalStore(false, false, FASTIFY_CACHE);
      return { run: (keys, n) => loopFastifySync(store, w, keys, n) };
    },
  },
  {
    id: 'fastify-promise',
    label: '@fastify/rate-limit LocalStore.incr in a Promise (as its plugin)',
    async: true,
    create(w) {
      const store = new LocalStore(false, false, FASTIFY_CACHE);
      return { run: (keys, n) => loopFastifyPromise(store, w, keys, n) };
    },
  },
  {
    id: 'koa',
    label: 'koa-ratelimit memory driver .get() (new limiter per call)',
    async: true,
    create(w) {
      const opts: KoaOptions = { db: new Map(), max: w.limit, duration: w.windowMs };
      return { run: (keys, n) => loopKoa(opts, keys, n) };
    },
  },
];
