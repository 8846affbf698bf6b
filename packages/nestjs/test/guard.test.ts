import 'reflect-metadata';
import { type ArgumentsHost, Catch, type ExceptionFilter, type INestApplication, Logger, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { defineRules } from '@ratekeeper/core';
import { RATE_LIMIT_OPTIONS, RateLimitException, RateLimitModule } from '@ratekeeper/nestjs';
import { GuardedController, now, OpenController, type Platform, start } from './app';

const DEFAULT_BODY = { statusCode: 429, message: 'Too many requests, please try again later.' };

describe.each<Platform>(['express', 'fastify'])('@ratekeeper/nestjs on platform-%s', (platform) => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  async function boot(...args: Parameters<typeof start> extends [Platform, ...infer R] ? R : never) {
    const s = await start(platform, ...args);
    app = s.app;
    return s.http;
  }

  it("warnings (a store outage) go to Nest's Logger with the RateLimit context, not process warnings", async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    const processWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const broken = {
      bind: () => ({
        consume: () => {
          throw new Error('connection refused');
        },
        peek: () => {
          throw new Error('connection refused');
        },
        refund: () => {},
        reset: () => {},
      }),
    };
    try {
      const http = await boot([RateLimitModule.forRoot({ limit: 3, window: '1m', now, store: broken })]);
      expect((await http.get('/a')).status).toBe(200);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toMatch(/connection refused.*onStoreError/);
      expect((warn.mock.contexts[0] as { context?: string }).context).toBe('RateLimit');
      expect(processWarning).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
      processWarning.mockRestore();
    }
  });

  it('module options limit every route in one bucket per client, byte-exact headers, 429 with Retry-After', async () => {
    const http = await boot([RateLimitModule.forRoot({ limit: 3, window: '1m', algorithm: 'fixed-window', now })]);
    const first = await http.get('/a');
    expect(first.status).toBe(200);
    expect(first.headers['x-ratelimit-limit']).toBe('3');
    expect(first.headers['x-ratelimit-remaining']).toBe('2');
    expect(first.headers['x-ratelimit-reset']).toBe('1699999260');
    expect(first.headers['ratelimit-policy']).toBe('"3-in-1min";q=3;w=60');
    expect(first.headers.ratelimit).toBe('"3-in-1min";r=2;t=60');
    expect((await http.get('/b')).status).toBe(200);
    expect((await http.get('/a')).status).toBe(200);
    const denied = await http.get('/b');
    expect(denied.status).toBe(429);
    expect(denied.headers['retry-after']).toBe('60');
    expect(denied.body).toEqual(DEFAULT_BODY);
  });

  it('@SkipRateLimit on a handler or a class skips every limit; 5xx responses are refunded', async () => {
    const http = await boot([RateLimitModule.forRoot({ limit: 1, window: '1m', now })]);
    for (let i = 0; i < 3; i++) expect((await http.get('/health')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await http.get('/public/p')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await http.get('/fail')).status).toBe(503);
    expect((await http.get('/a')).status).toBe(200);
    expect((await http.get('/a')).status).toBe(429);
  });

  it('a handler with its own rules counts on its own, overriding the module; request.rateLimit refunds', async () => {
    const http = await boot([RateLimitModule.forRoot({ limit: 100, window: '1m', now })]);
    expect((await http.get('/login').set('x-ok', 'yes')).status).toBe(200);
    expect((await http.get('/login').set('x-ok', 'yes')).status).toBe(200);
    expect((await http.get('/login')).status).toBe(200);
    expect((await http.get('/login')).status).toBe(200);
    const denied = await http.get('/login');
    expect(denied.status).toBe(429);
    expect(denied.headers['x-ratelimit-limit']).toBe('2');
    // The module's bucket was not charged by /login.
    expect((await http.get('/a')).headers['x-ratelimit-remaining']).toBe('99');
  });

  it('class rules: one bucket for the controller; a method with its own rules overrides', async () => {
    const http = await boot([RateLimitModule.forRoot({ limit: 100, window: '1m', now })]);
    expect((await http.get('/admin/x')).status).toBe(200);
    expect((await http.get('/admin/y')).status).toBe(200);
    expect((await http.get('/admin/x')).status).toBe(200);
    expect((await http.get('/admin/y')).status).toBe(429);
    expect((await http.get('/admin/z')).status).toBe(200);
    expect((await http.get('/admin/z')).status).toBe(429);
  });

  it("key 'route' is Controller#handler, never the raw path; cost charges several units", async () => {
    const http = await boot([RateLimitModule.forRoot({ limit: 3, window: '1m', now })]);
    expect((await http.get('/by-route/1')).text).toBe('OpenController#byRoute');
    expect((await http.get('/by-route/2')).text).toBe('OpenController#byRoute');
    expect((await http.get('/by-route/3')).status).toBe(200);
    expect((await http.get('/by-route/4')).status).toBe(429);
    expect((await http.get('/costly')).headers['x-ratelimit-remaining']).toBe('1');
    expect((await http.get('/costly')).status).toBe(429);
  });

  it("an inherited handler gets each controller's own options", async () => {
    const http = await boot([RateLimitModule.forRoot({ limit: 100, window: '1m', now })]);
    expect((await http.get('/one/h')).headers['x-ratelimit-limit']).toBe('100');
    expect((await http.get('/two/h')).status).toBe(200);
    expect((await http.get('/two/h')).status).toBe(429);
    expect((await http.get('/one/h')).status).toBe(200);
  });

  it('tiers: rules chosen per request', async () => {
    const plans = {
      free: defineRules([{ limit: 1, window: '1m', name: 'free' }]),
      pro: defineRules([{ limit: 3, window: '1m', name: 'pro' }]),
    };
    const http = await boot([
      RateLimitModule.forRoot({
        now,
        rules: (req) => (req.headers['x-plan'] === 'pro' ? plans.pro : plans.free),
        key: 'user',
        user: (req) => req.headers['x-user'] as string | undefined,
      }),
    ]);
    expect((await http.get('/a').set('x-user', 'ann')).status).toBe(200);
    expect((await http.get('/a').set('x-user', 'ann')).status).toBe(429);
    for (let i = 0; i < 3; i++) expect((await http.get('/a').set('x-user', 'bob').set('x-plan', 'pro')).status).toBe(200);
    expect((await http.get('/a').set('x-user', 'bob').set('x-plan', 'pro')).headers['ratelimit-policy']).toBe('"pro";q=3;w=60');
  });

  it('the 429 is a RateLimitException an exception filter sees, with headers, decision and retryAfter', async () => {
    const seen: RateLimitException[] = [];
    @Catch(RateLimitException)
    class Filter implements ExceptionFilter {
      catch(exception: RateLimitException, host: ArgumentsHost): void {
        seen.push(exception);
        const res = host
          .switchToHttp()
          .getResponse<{ status?(n: number): { send?(b: unknown): void }; code?(n: number): { send(b: unknown): void } }>();
        const body = { error: 'slow down', retryAfter: exception.retryAfter };
        if (typeof res.code === 'function') res.code(exception.getStatus()).send(body);
        else res.status?.(exception.getStatus()).send?.(body);
      }
    }
    @Module({ providers: [{ provide: APP_FILTER, useClass: Filter }] })
    class FilterModule {}
    const http = await boot([RateLimitModule.forRoot({ limit: 1, window: '1m', algorithm: 'fixed-window', now }), FilterModule]);
    await http.get('/a');
    const denied = await http.get('/a');
    expect(denied.status).toBe(429);
    expect(denied.body).toEqual({ error: 'slow down', retryAfter: 60 });
    expect(denied.headers['retry-after']).toBe('60');
    expect(seen[0]?.headers['Retry-After']).toBe('60');
    expect(seen[0]?.decision.key).toBe('127.0.0.1');
  });

  it('global: false registers no guard; @UseGuards(RateLimitGuard) limits where it is put', async () => {
    const http = await boot([RateLimitModule.forRoot({ global: false, limit: 1, window: '1m', now })], [OpenController, GuardedController]);
    for (let i = 0; i < 3; i++) expect((await http.get('/a')).status).toBe(200);
    expect((await http.get('/guarded')).status).toBe(200);
    expect((await http.get('/guarded')).status).toBe(429);
  });

  it('forRootAsync builds the options with a factory and injected providers', async () => {
    @Module({ providers: [{ provide: 'LIMIT', useValue: 2 }], exports: ['LIMIT'] })
    class ConfigModule {}
    const http = await boot([
      RateLimitModule.forRootAsync({
        imports: [ConfigModule],
        inject: ['LIMIT'],
        useFactory: async (limit: number) => ({ limit, window: '1m', now }),
      }),
    ]);
    expect((await http.get('/a')).headers['x-ratelimit-limit']).toBe('2');
    expect(app?.get(RATE_LIMIT_OPTIONS)).toMatchObject({ limit: 2 });
  });
});
