import type { AdaptiveLoad } from '@ratekeeper/core';
import supertest from 'supertest';
import { createApp } from '../src/app';

describe('examples/adaptive', () => {
  const now = () => 1_699_999_200_000;
  let load = 0;
  let app: ReturnType<typeof createApp> | undefined;

  // Only the sampler's setInterval is faked: the HTTP server and client keep their real timers.
  beforeEach(() => {
    jest.useFakeTimers({
      doNotFake: [
        'Date',
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setTimeout',
        'clearTimeout',
      ],
    });
    load = 0;
  });
  afterEach(() => {
    app?.load.close();
    jest.useRealTimers();
  });

  /** The injected load, sampled once a second. */
  function start(): { http: ReturnType<typeof supertest>; adaptive: AdaptiveLoad } {
    app = createApp({ now, signal: () => load });
    return { http: supertest(app.app), adaptive: app.load };
  }
  function loadFor(value: number, seconds: number): void {
    load = value;
    jest.advanceTimersByTime(seconds * 1000);
  }

  it('halves the limits above 80 % load and restores them once the load has stayed low', async () => {
    const { http } = start();
    expect((await http.get('/')).headers['x-ratelimit-limit']).toBe('100');

    loadFor(0.9, 1);
    const busy = await http.get('/');
    expect(busy.headers['x-ratelimit-limit']).toBe('50');
    // The second request of this client: 48 of 50 left.
    expect(busy.body).toEqual({ hello: 'world', limit: 50, remaining: 48 });
    expect((await http.get('/status')).body).toEqual({ factor: 0.5, load: 0.9 });
    expect((await http.get('/search')).headers['x-ratelimit-limit']).toBe('5');

    // Back up in steps, each after 3 samples well below the threshold (no flapping).
    loadFor(0.65, 2);
    expect((await http.get('/')).headers['x-ratelimit-limit']).toBe('50');
    loadFor(0.65, 1);
    expect((await http.get('/')).headers['x-ratelimit-limit']).toBe('75');
    loadFor(0.2, 3);
    expect((await http.get('/')).headers['x-ratelimit-limit']).toBe('100');
  });

  it('under load, allows 5 searches a minute per client instead of 10', async () => {
    const { http } = start();
    loadFor(0.85, 1);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await http.get('/search')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    // The app-wide limit still has room.
    expect((await http.get('/')).status).toBe(200);
  });
});
