import { type CanActivate, type ExecutionContext, Inject, Injectable, Logger } from '@nestjs/common';
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
import { RateLimitException, RateLimitGraphQLException } from './exception';
import type { NestRequest, NestWsRequest, RateLimitDecoratorOptions, RateLimitModuleOptions } from './options';
import { RATE_LIMIT_METADATA, RATE_LIMIT_OPTIONS, SKIP_METADATA } from './tokens';

type Req = NestRequest & { rateLimit?: unknown; raw?: { socket?: { remoteAddress?: string } }; app?: { get?(name: string): unknown } };

/** The response of either platform: Express's (a Node `ServerResponse`) or Fastify's reply. */
interface PlatformResponse {
  setHeader?(name: string, value: string): unknown;
  removeHeader?(name: string): unknown;
  header?(name: string, value: string): unknown;
  raw?: NodeResponseLike & { removeHeader(name: string): unknown };
}

/** What the guard reads of the GraphQL context (`context.getArgByIndex(2)`). */
interface GraphQLContext {
  /** Apollo (Express and Fastify integrations), Mercurius with a `context` that returns it. */
  req?: Req;
  /** Mercurius. */
  request?: Req;
  /** Express's response, when the context function returns it. */
  res?: PlatformResponse;
  /** Fastify's reply (Mercurius; Apollo on Fastify when the context function returns it). */
  reply?: PlatformResponse;
}

/** What the guard reads of the `GraphQLResolveInfo` (`context.getArgByIndex(3)`). */
interface GraphQLInfo {
  readonly fieldName: string;
  readonly parentType: { readonly name: string };
  /** `prev` is undefined for the operation's root fields (`Query.x`, `Mutation.y`). */
  readonly path?: { readonly prev?: unknown };
}

/** A gateway's client: a socket.io `Socket` or a `ws` `WebSocket`. */
interface WsClient {
  handshake?: { address?: string; headers?: NestRequest['headers'] };
  _socket?: { remoteAddress?: string };
  rateLimit?: unknown;
}

type WsExceptionClass = new (error: object) => Error;
let wsException: WsExceptionClass | undefined;
let wsLoading: Promise<WsExceptionClass> | undefined;

/**
 * `WsException` of the app's `@nestjs/websockets` (an optional peer, imported at a gateway's first
 * message): known synchronously from then on, so a limited message fails in its own turn.
 */
function loadWsException(): Promise<WsExceptionClass> {
  wsLoading ??= import('@nestjs/websockets').then((m) => {
    wsException = (m.WsException ?? (m as unknown as { default: typeof m }).default.WsException) as unknown as WsExceptionClass;
    return wsException;
  });
  return wsLoading;
}

/** One limiter per bucket scope (the module, a controller, a handler), with its route name. */
interface Entry {
  readonly limiter: HttpLimiter<Req>;
  readonly route: string;
}

// `concurrency` is a limit too: alone it makes a limiter (with rules, in that limiter's slots).
const RULE_KEYS = ['limit', 'window', 'algorithm', 'burst', 'blockFor', 'name', 'rules', 'concurrency'] as const;
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
  /** By class, then handler: a handler inherited by several controllers gets each class's options. */
  readonly #byHandler = new WeakMap<object, WeakMap<object, Entry | null>>();
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
    // Warnings (a store outage, X-Forwarded-For without trust proxy) go to Nest's logger by default.
    this.#module = { logger: new Logger('RateLimit'), ...shared } as LooseRateLimitOptions<Req>;
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
    const type = context.getType<string>();
    if (type === 'http') {
      const http = context.switchToHttp();
      const req = http.getRequest<Req>();
      const res = http.getResponse<PlatformResponse>();
      this.#routes.set(req, entry.route);
      const out = entry.limiter.handle(req, req);
      if (out instanceof Promise) return out.then((o) => apply(req, res, o, false));
      return apply(req, res, out, false);
    }
    if (type === 'graphql') return this.#graphql(context, entry);
    if (type === 'ws') return this.#ws(context, entry);
    return true;
  }

  /**
   * A GraphQL operation field (`Query.x`, `Mutation.y`): the request and response come from the
   * resolver's context, the field from its info. Each root field counts (several in one HTTP
   * request count several times); field resolvers only count with a `@RateLimit` of their own.
   */
  #graphql(context: ExecutionContext, entry: Entry): boolean | Promise<boolean> {
    const gql = context.getArgByIndex<GraphQLContext | undefined>(2);
    const info = context.getArgByIndex<GraphQLInfo | undefined>(3);
    const req = gql?.req ?? gql?.request;
    if (typeof req !== 'object' || req === null || typeof info !== 'object' || info === null) return true;
    if (info.path?.prev !== undefined && entry.limiter === this.#moduleEntry?.limiter) return true;
    const res = gql?.res ?? gql?.reply ?? (req as { res?: PlatformResponse }).res;
    this.#routes.set(req, `${info.parentType.name}.${info.fieldName}`);
    // The info object is this field's own: the field counts once per limiter, each field on its own.
    const out = entry.limiter.handle(req, info);
    if (out instanceof Promise) return out.then((o) => apply(req, res, o, true));
    return apply(req, res, out, true);
  }

  /** A gateway's message: the client's address, the handshake's headers, the event name. */
  #ws(context: ExecutionContext, entry: Entry): boolean | Promise<boolean> {
    if (wsException === undefined) void loadWsException();
    const ws = context.switchToWs();
    const client = ws.getClient<WsClient>();
    // `getPattern` is Nest 11's; before, the handler stands for the event.
    const pattern = typeof ws.getPattern === 'function' ? ws.getPattern() : undefined;
    const event = typeof pattern === 'string' ? pattern : pattern === undefined ? entry.route : JSON.stringify(pattern);
    const req: NestWsRequest & { rateLimit?: unknown } = {
      ip: client.handshake?.address ?? client._socket?.remoteAddress,
      headers: client.handshake?.headers ?? {},
      client,
      event,
      data: ws.getData(),
    };
    this.#routes.set(req, event);
    const out = entry.limiter.handle(req as unknown as Req, req);
    if (out instanceof Promise) return out.then((o) => wsApply(client, req, o));
    return wsApply(client, req, out);
  }

  /** The limiter whose rules apply to `handler` of `cls`, built once; null when none apply. */
  #entryFor(cls: object, handler: object): Entry | null {
    let byHandler = this.#byHandler.get(cls);
    if (byHandler === undefined) {
      byHandler = new WeakMap();
      this.#byHandler.set(cls, byHandler);
    }
    const known = byHandler.get(handler);
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
    byHandler.set(handler, entry);
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
function apply(req: Req, res: PlatformResponse | undefined, out: HttpOutcome | undefined, graphql: boolean): boolean {
  if (out === undefined) return true;
  req.rateLimit = out.decision;
  // No response to watch (a GraphQL context without one): the `concurrency` slot is freed at once.
  if (res !== undefined) respond(res, out);
  else out.finish?.(200);
  if (!out.blocked) return true;
  if (graphql) throw new RateLimitGraphQLException(messageText(out), out.statusCode, out.headers ?? {}, out.decision);
  const body = out.body;
  let response: string | object = '';
  if (body !== undefined) response = body.contentType.startsWith('application/json') ? (JSON.parse(body.body) as object) : body.body;
  throw new RateLimitException(response, out.statusCode, out.headers ?? {}, out.decision);
}

/** The limited answer's text: the `message` option's text, or the `message` field of its JSON. */
function messageText(out: HttpOutcome): string {
  const body = out.body;
  if (body === undefined) return '';
  if (!body.contentType.startsWith('application/json')) return body.body;
  const value = JSON.parse(body.body) as { message?: unknown };
  return typeof value?.message === 'string' ? value.message : body.body;
}

/**
 * A gateway's message: the decision on the client (`client.rateLimit`, the latest message's), or
 * a `WsException` whose error Nest's filter emits as the `exception` event:
 * `{ status: 'error', message, code: 'RATE_LIMITED', retryAfter }`.
 */
function wsApply(client: WsClient, req: { rateLimit?: unknown }, out: HttpOutcome | undefined): boolean | Promise<boolean> {
  if (out === undefined) return true;
  req.rateLimit = out.decision;
  client.rateLimit = out.decision;
  // A guard cannot see a message handler end: a `concurrency` slot is freed at once.
  out.finish?.(200);
  if (!out.blocked) return true;
  const retryAfterMs = out.decision.retryAfterMs;
  const error = {
    status: 'error',
    message: messageText(out),
    code: 'RATE_LIMITED',
    retryAfter: Number.isFinite(retryAfterMs) ? Math.ceil(retryAfterMs / 1000) : -1,
  };
  const fail = (WsException: WsExceptionClass): never => {
    throw Object.assign(new WsException(error), { decision: out.decision, retryAfter: error.retryAfter });
  };
  return wsException === undefined ? loadWsException().then(fail) : fail(wsException);
}

/** The response's headers and refund. */
function respond(res: PlatformResponse, out: HttpOutcome): void {
  const raw = res.raw;
  // Fastify keeps headers on the reply until it sends: remove them there, not on the raw response.
  if (out.clear !== undefined) for (const name of out.clear) res.removeHeader?.(name);
  if (out.headers !== undefined) {
    if (typeof res.setHeader === 'function') for (const name in out.headers) res.setHeader(name, out.headers[name] as string);
    else if (typeof res.header === 'function') for (const name in out.headers) res.header(name, out.headers[name] as string);
  }
  finishOnClose((raw ?? res) as NodeResponseLike, out.finish);
}

// Nest's DI metadata, applied without decorator syntax (no `experimentalDecorators` needed to
// compile this package): the guard is injectable and takes the Reflector and the module's options.
Injectable()(RateLimitGuard);
Inject(Reflector)(RateLimitGuard, undefined, 0);
Inject(RATE_LIMIT_OPTIONS)(RateLimitGuard, undefined, 1);
