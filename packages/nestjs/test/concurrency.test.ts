import 'reflect-metadata';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { RateLimit, RateLimitModule } from '@ratekeeper/nestjs';
import { now, type Platform, start } from './app';

/** Requests of `/held` wait here until the test lets them answer. */
let waiting: Array<() => void> = [];
let arrived: () => void = () => {};

@Controller()
class HeldController {
  @Get('held')
  async held(): Promise<string> {
    arrived();
    await new Promise<void>((resolve) => waiting.push(resolve));
    return 'held';
  }

  @Get('quick')
  quick(): string {
    return 'quick';
  }

  @RateLimit({ concurrency: { max: 1, statusCode: 503 } })
  @Get('busy')
  async busy(): Promise<string> {
    return this.held();
  }
}

describe.each<Platform>(['express', 'fastify'])('@ratekeeper/nestjs concurrency on platform-%s', (platform) => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    for (const resolve of waiting) resolve();
    waiting = [];
    await app?.close();
    app = undefined;
  });

  it('a held request blocks the next one (429, Retry-After) until its response ends', async () => {
    const s = await start(platform, [RateLimitModule.forRoot({ concurrency: { max: 1 }, now })], [HeldController]);
    app = s.app;
    const http = s.http;
    const hold = async (path: string) => {
      const came = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      const response = http.get(path).then((r) => r);
      const early = await Promise.race([came.then(() => undefined), response]);
      if (early !== undefined) throw new Error(`${path} was answered ${early.status} instead of reaching its handler`);
      return { response };
    };
    const first = await hold('/held');
    const refused = await http.get('/quick');
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['x-ratelimit-limit']).toBeUndefined();
    expect(refused.body).toEqual({ statusCode: 429, message: 'Too many requests, please try again later.' });
    for (const resolve of waiting) resolve();
    waiting = [];
    expect((await first.response).text).toBe('held');
    expect((await http.get('/quick')).status).toBe(200);
    expect((await http.get('/quick')).status).toBe(200);
    // A handler's own `concurrency` makes a limiter of its own: its slots, its status.
    const busy = await hold('/busy');
    expect((await http.get('/busy')).status).toBe(503);
    expect((await http.get('/quick')).status).toBe(200);
    for (const resolve of waiting) resolve();
    waiting = [];
    expect((await busy.response).status).toBe(200);
    // Its slot came back with the response.
    const again = await hold('/busy');
    for (const resolve of waiting) resolve();
    expect((await again.response).status).toBe(200);
  });
});
