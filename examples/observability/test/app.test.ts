import supertest from 'supertest';
import { createApp, type ObservableApp } from '../src/app';

/**
 * The value of the sample `name{labels}` in a Prometheus text exposition, matching every given
 * label exactly (others may be present); summed when several series match, 0 when none does.
 */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

describe('examples/observability', () => {
  const now = () => 1_699_999_200_000;
  let running: ObservableApp | undefined;
  afterEach(() => running?.close());

  it('counts allowed and limited requests per limiter and rule, served on GET /metrics', async () => {
    running = createApp({ now });
    const http = supertest(running.app);
    for (let i = 0; i < 5; i++) expect((await http.post('/login')).status).toBe(401);
    expect((await http.post('/login')).status).toBe(429);
    expect((await http.post('/login')).status).toBe(429);
    for (let i = 0; i < 3; i++) expect((await http.get('/')).status).toBe(200);
    expect((await http.get('/health')).status).toBe(200);

    const res = await http.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers['x-ratelimit-limit']).toBeUndefined(); // scrapes are not limited
    const text = res.text;
    expect(text).toContain('# TYPE ratekeeper_decisions_total counter');

    const decisions = (labels: Record<string, string>) => sample(text, 'ratekeeper_decisions_total', labels);
    // Every request but /health and /metrics passed the app-wide limiter first (10 of 100).
    expect(decisions({ limiter: 'api', rule: 'api', outcome: 'allowed' })).toBe(10);
    expect(decisions({ limiter: 'api', outcome: 'limited' })).toBe(0);
    expect(decisions({ limiter: 'login', rule: 'per-minute', outcome: 'allowed' })).toBe(5);
    expect(decisions({ limiter: 'login', rule: 'per-minute', outcome: 'limited' })).toBe(2);
    expect(decisions({})).toBe(17);
    // The memory store decides in the process: no I/O to time (a RedisStore's decisions would be).
    expect(text).toContain('# TYPE ratekeeper_store_duration_seconds histogram');
    expect(sample(text, 'ratekeeper_store_duration_seconds_count')).toBe(0);
    expect(sample(text, 'ratekeeper_store_errors_total')).toBe(0);
    // The client address is never a label.
    expect(text).not.toMatch(/127\.0\.0\.1|::ffff/);
  });

  it('one registry counts every limiter of the process (the channels are process-wide), not only its app', async () => {
    running = createApp({ now });
    const other = createApp({ now });
    try {
      expect((await supertest(other.app).get('/')).status).toBe(200);
      // The other app's request is in this app's registry too: one registry per process is the usual setup.
      const text = (await supertest(running.app).get('/metrics')).text;
      expect(sample(text, 'ratekeeper_decisions_total', { limiter: 'api' })).toBe(1);
    } finally {
      other.close();
    }
  });
});
