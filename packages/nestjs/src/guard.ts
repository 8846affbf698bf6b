import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  createHttpLimiter,
  finishOnClose,
  type HttpAdapter,
  type HttpLimiter,
  type HttpOutcome,
  type LooseRateLimitOptions,
  mergeRateLimitOptions,
  type NodeResponseLike,
} from '@ratekeeper/core/http';
import { RateLimitException } from './exception';
import type { NestRequest, RateLimitDecoratorOptions, RateLimitModuleOptions } from './options';
import { RATE_LIMIT_METADATA, RATE_LIMIT_OPTIONS, SKIP_METADATA } from './tokens';

type Req = NestRequest & { rateLimit?: unknown; raw?: { socket?: { remoteAddress?: string } }; app?: { get?(name: string): unknown } };

/** The response of either platform: Express's (a Node `ServerResponse`) or Fastify's reply. */
interface PlatformResponse {
  setHeader?(name: string, value: string): unknown;
  removeHeader?(name: string): unknown;
  header?(name: string, value: string): unknown;
  raw?: NodeResponseLike & { removeHeader(name: string): unknown };
}

/** One limiter per bucket scope (the module, a controller, a handler), with its route name. */
interface Entry {
  readonly limiter: HttpLimiter<Req>;
  readonly route: string;
}

const RULE_KEYS = ['limit', 'window', 'algorithm', 'burst', 'blockFor', 'name', 'rules'] as const;
const definesRules = (o: object | undefined): boolean =>
  o !== undefined && RULE_KEYS.some((k) => (o as Record<string, unknown>)[k] !== undefined);

/**
 * The guard behind `@RateLimit` / `@SkipRateLimit` (global by default through `RateLimitModule`;
 * `@UseGuards(RateLimitGuard)` otherwise). A request is decided once, by one limiter holding the
 * rules that apply to it (one atomic decision, one Redis round trip): the handler's, else its
 * controller's, else the module's.
 */
export class RateLimitGuard implements CanActivate {
  readonly #module: LooseRateLimitOptions<Req>;
  readonly #byHandler = new WeakMap<object, Entry | null>();
  readonly #byClass = new WeakMap<object, Entry>();
  #moduleEntry: Entry | null | undefined;
  /** The route name of each request being decided (read by the adapter's `route`). */
  readonly #routes = new WeakMap<object, string>();
  readonly #adapter: HttpAdapter<Req>;

  constructor(
    private readonly reflector: Reflector,
    options: RateLimitModuleOptions,
  ) {
    const { global: _global, ...shared } = (options ?? {}) as RateLimitModuleOptions<Req>;
    this.#module = shared as LooseRateLimitOptions<Req>;
    const routes = this.#routes;
    this.#adapter = {
      // Both platforms apply their trust-proxy setting to `ip`.
      ip: (req) => req.ip,
      route: (req) => routes.get(req),
      // Express: its `trust proxy` setting; Fastify: `ip` differs from the socket when it trusts one.
      trustsProxy: (req) =>
        typeof req.app?.get === 'function' ? Boolean(req.app.get('trust proxy')) : req.ip !== req.raw?.socket?.remoteAddress,
      header: (req, name) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v.join(', ') : v;
      },
    };
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const handler = context.getHandler();
    const cls = context.getClass();
    if (this.reflector.getAllAndOverride<boolean | undefined>(SKIP_METADATA, [handler, cls]) === true) return true;
    const entry = this.#entryFor(cls, handler);
    if (entry === null) return true;
    if (context.getType() !== 'http') return true;
    const http = context.switchToHttp();
    const req = http.getRequest<Req>();
    const res = http.getResponse<PlatformResponse>();
    this.#routes.set(req, entry.route);
    const out = entry.limiter.handle(req, req);
    if (out instanceof Promise) return out.then((o) => apply(req, res, o));
    return apply(req, res, out);
  }

  /** The limiter whose rules apply to `handler` of `cls`, built once; null when none apply. */
  #entryFor(cls: object, handler: object): Entry | null {
    const known = this.#byHandler.get(handler);
    if (known !== undefined) return known;
    const classOptions = this.reflector.get<RateLimitDecoratorOptions<Req> | undefined>(RATE_LIMIT_METADATA, cls as never);
    const methodOptions = this.reflector.get<RateLimitDecoratorOptions<Req> | undefined>(RATE_LIMIT_METADATA, handler as never);
    const className = (cls as { name?: string }).name || 'AnonymousController';
    const handlerName = (handler as { name?: string }).name || 'anonymous';
    const route = `${className}#${handlerName}`;
    const prefix = this.#module.prefix ?? 'rk:';
    let entry: Entry | null;
    if (definesRules(methodOptions)) {
      // The handler's own rules: its own buckets unless the options name a prefix.
      const merged = this.#merge(classOptions, methodOptions);
      if ((methodOptions as LooseRateLimitOptions<Req>).prefix === undefined) merged.prefix = `${prefix}${route}:`;
      entry = { limiter: createHttpLimiter(merged, this.#adapter), route };
    } else if (definesRules(classOptions)) {
      entry = this.#classEntry(cls, className, classOptions, methodOptions, route);
    } else if (methodOptions !== undefined || classOptions !== undefined) {
      // Options that change only how the module's rules apply (key, cost, headers...): the module's buckets.
      const merged = this.#merge(classOptions, methodOptions);
      entry = definesRules(merged) ? { limiter: createHttpLimiter(merged, this.#adapter), route } : null;
    } else {
      entry = this.#moduleLimiter(route);
    }
    this.#byHandler.set(handler, entry);
    return entry;
  }

  /** A controller's rules: one limiter (one bucket per key) for every handler of the class. */
  #classEntry(
    cls: object,
    className: string,
    classOptions: RateLimitDecoratorOptions<Req> | undefined,
    methodOptions: RateLimitDecoratorOptions<Req> | undefined,
    route: string,
  ): Entry {
    if (methodOptions !== undefined) {
      // The handler tweaks its class's options: same buckets as the class (same prefix).
      const merged = this.#merge(classOptions, methodOptions);
      if ((classOptions as LooseRateLimitOptions<Req>).prefix === undefined) merged.prefix = `${this.#module.prefix ?? 'rk:'}${className}:`;
      return { limiter: createHttpLimiter(merged, this.#adapter), route };
    }
    let entry = this.#byClass.get(cls);
    if (entry === undefined) {
      const merged = this.#merge(classOptions, undefined);
      if ((classOptions as LooseRateLimitOptions<Req>).prefix === undefined) merged.prefix = `${this.#module.prefix ?? 'rk:'}${className}:`;
      entry = { limiter: createHttpLimiter(merged, this.#adapter), route: className };
      this.#byClass.set(cls, entry);
    }
    return { limiter: entry.limiter, route };
  }

  /** The module's rules, shared by every route without rules of its own; null without any. */
  #moduleLimiter(route: string): Entry | null {
    if (this.#moduleEntry === undefined) {
      this.#moduleEntry = definesRules(this.#module) ? { limiter: createHttpLimiter(this.#module, this.#adapter), route: '' } : null;
    }
    return this.#moduleEntry === null ? null : { limiter: this.#moduleEntry.limiter, route };
  }

  #merge(classOptions: object | undefined, methodOptions: object | undefined): LooseRateLimitOptions<Req> {
    let merged: LooseRateLimitOptions<Req> = this.#module;
    if (classOptions !== undefined) merged = mergeRateLimitOptions(merged, classOptions as LooseRateLimitOptions<Req>);
    if (methodOptions !== undefined) merged = mergeRateLimitOptions(merged, methodOptions as LooseRateLimitOptions<Req>);
    return { ...merged };
  }
}

/** Sets the headers, remembers the decision, arranges the refund, or throws the 429. */
function apply(req: Req, res: PlatformResponse, out: HttpOutcome | undefined): boolean {
  if (out === undefined) return true;
  req.rateLimit = out.decision;
  const raw = res.raw;
  // Fastify keeps headers on the reply until it sends: remove them there, not on the raw response.
  if (out.clear !== undefined) for (const name of out.clear) res.removeHeader?.(name);
  if (out.headers !== undefined) {
    if (typeof res.setHeader === 'function') for (const name in out.headers) res.setHeader(name, out.headers[name] as string);
    else if (typeof res.header === 'function') for (const name in out.headers) res.header(name, out.headers[name] as string);
  }
  finishOnClose((raw ?? res) as NodeResponseLike, out.finish);
  if (!out.blocked) return true;
  const body = out.body;
  let response: string | object = '';
  if (body !== undefined) response = body.contentType.startsWith('application/json') ? (JSON.parse(body.body) as object) : body.body;
  throw new RateLimitException(response, out.statusCode, out.headers ?? {}, out.decision);
}

// Nest's DI metadata, applied without decorator syntax (no `experimentalDecorators` needed to
// compile this package): the guard is injectable and takes the Reflector and the module's options.
Injectable()(RateLimitGuard);
Inject(Reflector)(RateLimitGuard, undefined, 0);
Inject(RATE_LIMIT_OPTIONS)(RateLimitGuard, undefined, 1);
