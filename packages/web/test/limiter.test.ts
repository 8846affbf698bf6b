import { isConfigError } from '@ratekeeper/core';
import { bunIp, cloudflareIp, createRateLimiter, denoIp, flyIp, forwardedFor, getRateLimit, vercelIp } from '@ratekeeper/web';

const T0 = 1_699_999_200_000;
const now = () => T0;
const req = (headers: Record<string, string> = {}, url = 'http://x.test/a') => new Request(url, { headers });

describe('createRateLimiter', () => {
  it('check: allowed with headers, then a 429 Response with body, Retry-After and the same family of headers', async () => {
    const limiter = createRateLimiter({ limit: 1, window: '1m', algorithm: 'fixed-window', now, ip: () => '203.0.113.1' });
    const first = await limiter.check(req());
    expect(first.allowed).toBe(true);
    expect(first.response).toBeUndefined();
    expect(first.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(first.decision?.key).toBe('203.0.113.1');
    const second = await limiter.check(req());
    expect(second.allowed).toBe(false);
    const res = second.response as Response;
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('60');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('Too many requests, please try again later.');
  });

  it("a request without an address is a ConfigError that says how to supply one (key 'ip')", async () => {
    const limiter = createRateLimiter({ limit: 5, window: '1m', now });
    const error = await limiter.check(req()).catch((e: unknown) => e);
    expect(isConfigError(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/cloudflareIp.*forwardedFor\(hops\)/);
    // No shared bucket was charged meanwhile: an address given per call works.
    expect((await limiter.check(req(), { ip: '203.0.113.9' })).headers.get('x-ratelimit-remaining')).toBe('4');
  });

  it("key 'route' without a route is a ConfigError; with { route } the pattern is the key", async () => {
    const limiter = createRateLimiter({ limit: 5, window: '1m', now, key: 'route' });
    expect(isConfigError(await limiter.check(req()).catch((e: unknown) => e))).toBe(true);
    const r = await limiter.check(req({}, 'http://x.test/users/1'), { route: 'GET /users/[id]' });
    expect(r.decision?.key).toBe('GET /users/[id]');
  });

  it('wrap: refunds a 5xx, and a handler that throws, then rethrows', async () => {
    const limiter = createRateLimiter({ limit: 1, window: '1m', now, ip: () => '203.0.113.1' });
    const failing = limiter.wrap(() => new Response('no', { status: 503 }));
    expect((await failing(req())).status).toBe(503);
    const throwing = limiter.wrap(() => {
      throw new Error('boom');
    });
    await expect(throwing(req())).rejects.toThrow('boom');
    const ok = limiter.wrap(() => new Response('ok'));
    expect((await ok(req())).status).toBe(200);
    expect((await ok(req())).status).toBe(429);
  });

  it('wrap: adds headers to an immutable response by copying it, and leaves a 101 alone', async () => {
    const limiter = createRateLimiter({ limit: 5, window: '1m', now, ip: () => '203.0.113.1' });
    const redirect = await limiter.wrap(() => Response.redirect('http://x.test/b', 302))(req());
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('http://x.test/b');
    expect(redirect.headers.get('x-ratelimit-remaining')).toBe('4');
    const upgrade = { status: 101, headers: new Headers() } as unknown as Response;
    expect(await limiter.wrap(() => upgrade)(req())).toBe(upgrade);
    expect(upgrade.headers.get('x-ratelimit-remaining')).toBeNull();
  });

  it('wrap passes what the runtime gave the handler to the ip resolver, and getRateLimit gives the decision', async () => {
    const limiter = createRateLimiter({ limit: 5, window: '1m', now, ip: bunIp });
    const server = { requestIP: () => ({ address: '198.51.100.7' }) };
    const handler = limiter.wrap((request: Request, _server: typeof server) => new Response(getRateLimit(request)?.key));
    expect(await (await handler(req(), server)).text()).toBe('198.51.100.7');
  });
});

describe('IP resolvers', () => {
  it('read the header their platform sets, trimmed; absent → undefined', () => {
    expect(cloudflareIp(req({ 'cf-connecting-ip': ' 203.0.113.1 ' }))).toBe('203.0.113.1');
    expect(flyIp(req({ 'fly-client-ip': '203.0.113.2' }))).toBe('203.0.113.2');
    expect(vercelIp(req({ 'x-real-ip': '203.0.113.3' }))).toBe('203.0.113.3');
    expect(cloudflareIp(req())).toBeUndefined();
    expect(denoIp(req(), { remoteAddr: { hostname: '203.0.113.4', port: 1, transport: 'tcp' } })).toBe('203.0.113.4');
    expect(bunIp(req(), { requestIP: () => null })).toBeUndefined();
  });

  it('forwardedFor(hops) takes the entry written by the outermost proxy you run, never a client-written one', () => {
    const xff = req({ 'x-forwarded-for': '6.6.6.6, 203.0.113.5, 10.0.0.2' });
    expect(forwardedFor(1)(xff)).toBe('10.0.0.2');
    expect(forwardedFor(2)(xff)).toBe('203.0.113.5');
    expect(forwardedFor(4)(xff)).toBeUndefined();
    expect(() => forwardedFor(0)).toThrow(/hops.*positive integer/);
  });
});
