import type { Limiter, RateLimitOptions } from '@ratekeeper/core';
import {
  createHttpLimiter,
  finishOnClose,
  type HttpAdapter,
  type HttpOutcome,
  nodeHeader,
  type RequestDecision,
  setNodeHeaders,
  wrongFrameworkError,
} from '@ratekeeper/core/http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

declare global {
  namespace Express {
    interface Request {
      /** The decision of the last ratekeeper limiter this request passed through, with its key, `refund()` and `reset()`. */
      rateLimit?: RequestDecision;
    }
  }
}

/** Options of the Express middleware: the shared HTTP options, with Express's `Request`. */
export type ExpressRateLimitOptions = RateLimitOptions<Request>;

const adapter: HttpAdapter<Request> = {
  // `req.ip` applies Express's trust-proxy setting; read once per request by the pipeline.
  ip: (req) => req.ip,
  // Inside a route the pattern is known (mount path + route path); app-level middleware sees none.
  route: (req) => (req.route === undefined ? undefined : `${req.method} ${req.baseUrl}${(req.route as { path: string }).path}`),
  trustsProxy: (req) => {
    const setting: unknown = req.app.get('trust proxy');
    return setting !== false && setting !== 0 && setting !== undefined;
  },
  header: nodeHeader,
};

/** The Express middleware, with the limiter it uses (`undefined` when `rules` is a function). */
export interface RateLimitMiddleware extends RequestHandler {
  readonly limiter: Limiter | undefined;
}

/**
 * Express (4 and 5) rate-limit middleware, for the whole app or a single route. The decision is
 * on `req.rateLimit`. Errors from `key`, `user`, `rules`, `skip` or `message` functions (thrown
 * or rejected), and store failures the `onStoreError` policy did not absorb, go to `next(err)`.
 * @example
 * app.use(rateLimit({ limit: 100, window: '15m' }));
 * app.post('/login', rateLimit({ limit: 5, window: '1m', key: ['ip', 'route'] }), login);
 */
export function rateLimit(options: ExpressRateLimitOptions): RateLimitMiddleware {
  const limiter = createHttpLimiter(options, adapter);
  const middleware = function rateLimitMiddleware(req: Request, res: Response, next: NextFunction): unknown {
    if (typeof next !== 'function' || typeof (res as Partial<Response> | undefined)?.setHeader !== 'function') {
      // Koa calls (ctx, next): rejecting lets Koa answer 500 with this error instead of crashing.
      const error = wrongFrameworkError('Express', 'a middleware call without (req, res, next)');
      if (typeof res === 'function') return Promise.reject(error);
      throw error;
    }
    const out = limiter.handle(req, req);
    // The memory store answers in the same tick: no promise hop for the common case. Anything
    // asynchronous is a native Promise (the pipeline adopts thenables), so this one test suffices.
    if (out instanceof Promise) out.then((o) => apply(req, res, next, o), next);
    else apply(req, res, next, out);
    return undefined;
  };
  return Object.assign(middleware, { limiter: limiter.limiter });
}

function apply(req: Request, res: Response, next: NextFunction, out: HttpOutcome | undefined): void {
  if (out === undefined) {
    next();
    return;
  }
  req.rateLimit = out.decision;
  setNodeHeaders(res, out.headers, out.clear);
  finishOnClose(res, out.finish);
  if (out.blocked && out.body !== undefined) {
    // Written directly: `res.send` would hash an ETag for every rejected request.
    res.statusCode = out.statusCode;
    res.setHeader('Content-Type', out.body.contentType);
    res.end(out.body.body);
    return;
  }
  next();
}
