import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isConfigError, type Rule } from '@ratekeeper/core';
import {
  createHttpLimiter,
  type HttpAdapter,
  type HttpLimiter,
  type HttpOutcome,
  type LooseRateLimitOptions,
  mergeRateLimitOptions,
} from '@ratekeeper/core/http';
import { Thenable } from '../../../../test/conformance/thenable';

interface FakeReq {
  ip: string | undefined;
  route?: string;
  headers: Record<string, string>;
  plan?: string;
}

const adapter: HttpAdapter<FakeReq> = {
  ip: (r) => r.ip,
  route: (r) => r.route,
  trustsProxy: () => false,
  header: (r, name) => r.headers[name],
};

/** Runs the pipeline as a Node adapter does: the outcome's `finish` is called when the response closes. */
function handle<Req>(
  limiter: { handle(req: Req, carrier: object): ReturnType<HttpLimiter<Req>['handle']> },
  r: { req: Req; raw: IncomingMessage; res: ServerResponse & EventEmitter },
): ReturnType<HttpLimiter<Req>['handle']> {
  const out = limiter.handle(r.req, r.raw);
  const attach = (o: HttpOutcome | undefined) => {
    if (o?.finish !== undefined) r.res.on('close', () => o.finish?.(r.res.statusCode));
    return o;
  };
  return out instanceof Promise ? out.then(attach) : attach(out);
}

function req(ip = '192.0.2.1', extra: Partial<FakeReq> = {}): { req: FakeReq; raw: IncomingMessage; res: ServerResponse & EventEmitter } {
  const res = Object.assign(new EventEmitter(), { statusCode: 200 }) as unknown as ServerResponse & EventEmitter;
  return { req: { ip, headers: {}, ...extra }, raw: { headers: {}, rawHeaders: [] } as unknown as IncomingMessage, res };
}

function configError(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    expect(isConfigError(e)).toBe(true);
    return e as Error;
  }
  throw new Error('expected a ConfigError');
}

describe('createHttpLimiter options', () => {
  const make = (o: LooseRateLimitOptions<FakeReq>) => createHttpLimiter(o, adapter);

  it.each<[LooseRateLimitOptions<FakeReq>, RegExp]>([
    [{ limit: 0, window: '1m' }, /`(rules\[0\]\.)?limit`.*got 0/],
    [{ limit: 10, window: 'soon' as never }, /`(rules\[0\]\.)?window`.*"soon"/],
    [{ limit: 10, window: '1m', key: 'session' as never }, /`key`.*"session"/],
    [{ limit: 10, window: '1m', key: [] }, /`key`/],
    [{ limit: 10, window: '1m', key: 'user' }, /`user`.*undefined/],
    [{ limit: 10, window: '1m', ipv6Subnet: 129 }, /`ipv6Subnet`.*129/],
    [{ limit: 10, window: '1m', ipv6Subnet: true as never }, /`ipv6Subnet`.*true/],
    [{ limit: 10, window: '1m', headers: 'draft-5' as never }, /`headers`.*"draft-5"/],
    [{ limit: 10, window: '1m', statusCode: 200 }, /`statusCode`.*200/],
    [{ limit: 10, window: '1m', message: 42 as never }, /`message`.*42/],
    [{ limit: 10, window: '1m', skip: true as never }, /`skip`.*true/],
    [{ limit: 10, window: '1m', allowList: 'everyone' as never }, /`allowList`/],
    [{ limit: 10, window: '1m', allowList: ['nope'] }, /`allowList\[0\]`.*"nope"/],
    [{ limit: 10, window: '1m', dryRun: 'yes' as never }, /`dryRun`.*"yes"/],
    [{ limit: 10, window: '1m', logger: console.log as never }, /`logger`/],
    [{ limit: 10, window: '1m', timeoutMs: -1 }, /`timeoutMs`.*-1/],
    [{ limit: 10, window: '1m', windowMs: 1000 } as never, /`windowMs`: ratekeeper calls it `window`/],
    [{ rules: () => [], limit: 5 }, /`limit`.*5/],
    [{ rules: () => [], prefix: 7 as never }, /`prefix`.*7/],
    [{}, /`rules`/],
  ])('rejects %p at construction', (options, message) => {
    expect(configError(() => make(options)).message).toMatch(message);
  });
});

describe('HttpLimiter.handle', () => {
  it('counts a request once per limiter even if it passes through twice', async () => {
    const limiter = createHttpLimiter({ limit: 2, window: '1m', now: () => 0 }, adapter);
    const r = req();
    const first = await handle(limiter, r);
    expect(first?.decision.remaining).toBe(1);
    expect(await handle(limiter, r)).toBeUndefined();
    const other = req();
    expect((await handle(limiter, other))?.decision.remaining).toBe(0);
  });

  it('builds one limiter per distinct rule set, also for freshly built arrays', async () => {
    const free: Rule[] = [{ limit: 2, window: '1m', name: 'free' }];
    let calls = 0;
    const limiter = createHttpLimiter<FakeReq>(
      {
        now: () => 0,
        rules: (r) => {
          calls++;
          return r.plan === 'pro' ? [{ limit: 5, window: '1m', name: 'pro' }] : free;
        },
      },
      adapter,
    );
    const seen = new Set<unknown>();
    for (const plan of ['free', 'pro', 'pro', 'free', 'pro']) {
      const r = req('192.0.2.1', { plan });
      const out = await handle(limiter, r);
      seen.add(out?.decision.rule.name);
      if (plan === 'pro') expect(out?.decision.limit).toBe(5);
    }
    expect(calls).toBe(5);
    // Pro requests counted in one limiter although each call returned a new array: 3 of 5 used.
    const r = req('192.0.2.1', { plan: 'pro' });
    expect((await handle(limiter, r))?.decision.remaining).toBe(1);
    expect(seen).toEqual(new Set(['free', 'pro']));
  });

  it('takes any number of distinct rule sets: 1,500 through one limiter, with a bounded cache and the counts kept', async () => {
    // Per-customer negotiated limits: every plan is its own rule set, built fresh on each call.
    const limiter = createHttpLimiter<FakeReq>({ now: () => 0, rules: (r) => [{ limit: Number(r.plan), window: '1m' }] }, adapter);
    const refused: unknown[] = [];
    for (let plan = 1; plan <= 1500; plan++) {
      try {
        const out = await handle(limiter, req('192.0.2.1', { plan: String(plan) }));
        if (out?.decision.allowed !== true || out.decision.limit !== plan) refused.push([plan, out?.decision]);
      } catch (error) {
        refused.push([plan, error]);
      }
    }
    expect({ refused: refused.length, first: refused[0] }).toEqual({ refused: 0, first: undefined });
    expect(limiter.ruleSets).toBeGreaterThan(0);
    expect(limiter.ruleSets).toBeLessThanOrEqual(1000);
    // The first plan's limiter was dropped from the cache long ago; its count lives in the store.
    const again = await handle(limiter, req('192.0.2.1', { plan: '1' }));
    expect(again?.decision.allowed).toBe(false);
    expect(limiter.ruleSets).toBeLessThanOrEqual(1000);
  });

  it('reports invalid per-request rules as a ConfigError rejection', async () => {
    const limiter = createHttpLimiter<FakeReq>({ rules: () => [{ limit: -1, window: '1m' }] }, adapter);
    const r = req();
    await expect(handle(limiter, r)).rejects.toThrow(/rules\[0\]\.limit/);
  });

  it('rejects when a key function does not return a string', async () => {
    const limiter = createHttpLimiter<FakeReq>({ limit: 1, window: '1m', key: () => 42 as never }, adapter);
    const r = req();
    await expect(handle(limiter, r)).rejects.toThrow(/`key`/);
  });

  it('refunds once on close when countResponse rejects the status, using the charged window', async () => {
    let t = 59_000;
    const limiter = createHttpLimiter({ limit: 2, window: '1m', algorithm: 'fixed-window', now: () => t }, adapter);
    const run = async () => {
      const r = req();
      const out = await handle(limiter, r);
      return { res: r.res, allowed: out?.decision.allowed };
    };
    const a = await run();
    await run();
    a.res.statusCode = 502;
    a.res.emit('close');
    a.res.emit('close');
    // Refunded exactly once: one slot free again, not two.
    const b = await run();
    expect(b.allowed).toBe(true);
    expect((await run()).allowed).toBe(false);
    // Charged at 59 s, answered after the window rolled: the new window must not be credited.
    t = 60_500;
    expect((await run()).allowed).toBe(true);
    b.res.statusCode = 500;
    b.res.emit('close');
    expect((await run()).allowed).toBe(true);
    expect((await run()).allowed).toBe(false);
  });

  it('honours a custom countResponse', async () => {
    const limiter = createHttpLimiter({ limit: 1, window: '1m', now: () => 0, countResponse: (s) => s !== 404 }, adapter);
    const a = req();
    await handle(limiter, a);
    a.res.statusCode = 404;
    a.res.emit('close');
    const b = req();
    expect((await handle(limiter, b))?.decision.allowed).toBe(true);
    b.res.statusCode = 503;
    b.res.emit('close');
    const c = req();
    expect((await handle(limiter, c))?.decision.allowed).toBe(false);
  });

  it('keeps the charge when countResponse throws', async () => {
    const limiter = createHttpLimiter(
      {
        limit: 1,
        window: '1m',
        now: () => 0,
        countResponse: () => {
          throw new Error('bug in predicate');
        },
      },
      adapter,
    );
    const a = req();
    await handle(limiter, a);
    a.res.statusCode = 500;
    expect(() => a.res.emit('close')).not.toThrow();
    const b = req();
    expect((await handle(limiter, b))?.decision.allowed).toBe(false);
  });

  it('awaits async skip and key functions', async () => {
    const limiter = createHttpLimiter<FakeReq>(
      { limit: 1, window: '1m', now: () => 0, skip: async (r) => r.plan === 'internal', key: async (r) => `k:${r.plan}` },
      adapter,
    );
    const skipped = req('192.0.2.1', { plan: 'internal' });
    expect(await handle(limiter, skipped)).toBeUndefined();
    const a = req('192.0.2.1', { plan: 'x' });
    const b = req('192.0.2.2', { plan: 'x' });
    expect((await handle(limiter, a))?.decision.allowed).toBe(true);
    // Same key from another address: the key function, not the address, picks the bucket.
    const out = await handle(limiter, b);
    expect(out?.blocked).toBe(true);
    expect(out?.statusCode).toBe(429);
    expect(out?.body).toEqual({ body: 'Too many requests, please try again later.', contentType: 'text/plain; charset=utf-8' });
  });

  // Adapters test `instanceof Promise` only: any other thenable must never reach them.
  it.each<[string, LooseRateLimitOptions<FakeReq>]>([
    ['key', { limit: 1, window: '1m', key: () => Thenable.resolve('k') }],
    ['user', { limit: 1, window: '1m', key: 'user', user: () => Thenable.resolve('alice') }],
    ['rules', { rules: () => Thenable.resolve([{ limit: 1, window: '1m' }]) }],
    ['skip', { limit: 1, window: '1m', skip: () => Thenable.resolve(false) }],
    ['message', { limit: 1, window: '1m', message: () => Thenable.resolve({ error: 'slow down' }) }],
  ])('adopts a thenable from %s: handle answers with a native Promise', async (option, options) => {
    const limiter = createHttpLimiter<FakeReq>({ ...options, now: () => 0 }, adapter);
    const a = req();
    const first = handle(limiter, a);
    // `message` only runs for a limited request; the first one is decided synchronously.
    if (option !== 'message') expect(first).toBeInstanceOf(Promise);
    expect((await first)?.decision.allowed).toBe(true);
    const b = req();
    const second = handle(limiter, b);
    expect(second).toBeInstanceOf(Promise);
    const out = await second;
    expect(out?.blocked).toBe(true);
    expect(out?.body).toEqual(
      option === 'message'
        ? { body: '{"error":"slow down"}', contentType: 'application/json; charset=utf-8' }
        : { body: 'Too many requests, please try again later.', contentType: 'text/plain; charset=utf-8' },
    );
  });

  it.each(['key', 'user', 'rules', 'skip', 'message'])(
    'rejects its native Promise when the thenable %s returns rejects',
    async (option) => {
      const failing = () => Thenable.reject(new Error(`${option} failed`));
      const options: LooseRateLimitOptions<FakeReq> =
        option === 'rules' ? { rules: failing } : { limit: 1, window: '1m', key: option === 'user' ? 'user' : 'ip', [option]: failing };
      const limiter = createHttpLimiter<FakeReq>({ ...options, now: () => 0 }, adapter);
      const a = req();
      if (option === 'message') await handle(limiter, a);
      const b = req();
      const out = handle(limiter, b);
      expect(out).toBeInstanceOf(Promise);
      await expect(out).rejects.toThrow(`${option} failed`);
    },
  );

  it('passes through (allowed, no refund) when the store fails and the policy allows', async () => {
    const store = {
      bind: () => ({
        consume: () => {
          throw new Error('down');
        },
        peek: () => [0],
        refund: () => {
          throw new Error('refund must not be called');
        },
        reset: () => {},
      }),
    };
    const limiter = createHttpLimiter({ limit: 1, window: '1m', store, onError: () => {} }, adapter);
    const r = req();
    const out = await handle(limiter, r);
    expect(out?.blocked).toBe(false);
    expect(out?.decision.error).toBeDefined();
    expect(r.res.listenerCount('close')).toBe(0);
  });

  it('merges draft-8 headers of several limiters on one request', async () => {
    const a = createHttpLimiter({ limit: 3, window: '1m', name: 'a', now: () => 0, headers: 'draft-8' }, adapter);
    const b = createHttpLimiter({ limit: 9, window: '1h', name: 'b', now: () => 0 }, adapter);
    const r = req();
    await handle(a, r);
    const out = await handle(b, r);
    expect(out?.headers?.['RateLimit-Policy']).toBe('"a";q=3;w=60, "b";q=9;w=3600');
    expect(out?.headers?.RateLimit).toBe('"a";r=2;t=60, "b";r=8;t=3600');
  });
});

describe('mergeRateLimitOptions', () => {
  it('layers route options over app options, replacing the rules as a whole', () => {
    const base: LooseRateLimitOptions<FakeReq> = { rules: [{ limit: 100, window: '1m' }], prefix: 'app:', headers: 'draft-8' };
    expect(mergeRateLimitOptions(base, { limit: 5, window: '1s' })).toEqual({ limit: 5, window: '1s', prefix: 'app:', headers: 'draft-8' });
    expect(mergeRateLimitOptions(base, { headers: 'legacy' })).toEqual({ ...base, headers: 'legacy' });
    expect(mergeRateLimitOptions({ limit: 1, window: '1m', algorithm: 'gcra' }, { rules: [{ limit: 2, window: '1h' }] })).toEqual({
      rules: [{ limit: 2, window: '1h' }],
    });
  });
});
