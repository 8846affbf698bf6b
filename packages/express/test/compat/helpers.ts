import type { ClientRateLimitInfo, Logger, Store } from '@ratekeeper/express/compat';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';

/**
 * An Express app with the given middleware in front of a few routes: `/` answers 200 "ok",
 * `/bad` 400, `/boom` 500, `/info` the rate-limit info as JSON, `/hang` never answers. Errors
 * passed to `next(err)` are answered 500 "error: <message>".
 */
export function appWith(...middleware: RequestHandler[]): Express {
  const app = express();
  app.use(...middleware);
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  app.get('/bad', (_req, res) => {
    res.sendStatus(400);
  });
  app.get('/boom', (_req, res) => {
    res.sendStatus(500);
  });
  app.get('/info', (req, res) => {
    res.json((req as unknown as Record<string, unknown>).rateLimit ?? null);
  });
  app.get('/hang', () => {});
  const onError: ErrorRequestHandler = (err: Error, _req, res, _next) => {
    res.status(500).send(`error: ${err.message}`);
  };
  app.use(onError);
  return app;
}

/** A logger that records what it is given (and prints nothing). */
export function recordingLogger(): Logger & { errors: unknown[][]; warnings: unknown[][]; codes(): string[] } {
  const errors: unknown[][] = [];
  const warnings: unknown[][] = [];
  return {
    errors,
    warnings,
    error: (...args: unknown[]) => {
      errors.push(args);
    },
    warn: (...args: unknown[]) => {
      warnings.push(args);
    },
    /** The `code` of every logged error and warning, in order. */
    codes: () => [...errors, ...warnings].map(([e]) => (e as { code?: string }).code ?? String(e)),
  };
}

/**
 * An express-rate-limit store written to the documented interface: hits per key in a Map, a
 * window from the first hit (`resetTime`, or none with `withResetTime: false`), and a log of the
 * calls it received.
 */
export class ListStore implements Store {
  readonly calls: string[] = [];
  readonly hits = new Map<string, { totalHits: number; resetTime: Date }>();
  windowMs = 60_000;
  initOptions: unknown;
  readonly #withResetTime: boolean;

  constructor(options: { withResetTime?: boolean } = {}) {
    this.#withResetTime = options.withResetTime ?? true;
  }

  init(options: { windowMs: number }): void {
    this.calls.push('init');
    this.initOptions = options;
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    this.calls.push(`increment ${key}`);
    const now = Date.now();
    let entry = this.hits.get(key);
    if (entry === undefined || entry.resetTime.getTime() <= now) {
      entry = { totalHits: 0, resetTime: new Date(now + this.windowMs) };
      this.hits.set(key, entry);
    }
    entry.totalHits++;
    return { totalHits: entry.totalHits, resetTime: this.#withResetTime ? new Date(entry.resetTime) : undefined };
  }

  async decrement(key: string): Promise<void> {
    this.calls.push(`decrement ${key}`);
    const entry = this.hits.get(key);
    if (entry !== undefined && entry.totalHits > 0) entry.totalHits--;
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    this.calls.push(`get ${key}`);
    const entry = this.hits.get(key);
    return entry === undefined ? undefined : { totalHits: entry.totalHits, resetTime: new Date(entry.resetTime) };
  }

  async resetKey(key: string): Promise<void> {
    this.calls.push(`resetKey ${key}`);
    this.hits.delete(key);
  }

  async resetAll(): Promise<void> {
    this.calls.push('resetAll');
    this.hits.clear();
  }
}

/** Epoch ms at the start of a window of `windowMs` (windows are aligned to the epoch), plus `offsetMs`. */
export function windowStart(windowMs: number, offsetMs = 0): number {
  return Math.floor(Date.UTC(2030, 0, 1) / windowMs) * windowMs + offsetMs;
}
