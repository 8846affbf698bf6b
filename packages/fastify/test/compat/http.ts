import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';

/** Real HTTP on 127.0.0.1 (Fastify's `inject` needs an ESM-only dependency under Jest). */
const clients = new WeakMap<FastifyInstance, ReturnType<typeof supertest>>();

async function client(app: FastifyInstance): Promise<ReturnType<typeof supertest>> {
  let c = clients.get(app);
  if (c === undefined) {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    c = supertest(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
    clients.set(app, c);
  }
  return c;
}

/** What the tests read of a response. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON, asserted by the tests
  body: any;
  text: string;
}

/** One request (GET unless `method` says otherwise) with headers; starts the server on first use. */
export async function send(
  app: FastifyInstance,
  url: string,
  headers: Record<string, string> = {},
  method: 'get' | 'head' | 'post' = 'get',
): Promise<Reply> {
  let r = (await client(app))[method](url);
  for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
  return await r;
}

/** The statuses of `n` GETs in a row. */
export async function statuses(app: FastifyInstance, url: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(app, url, headers)).status);
  return out;
}

/** The rate-limit headers of a response, by name (absent ones left out). */
export function limitHeaders(res: Pick<Reply, 'headers'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (/^(x-)?ratelimit-|^retry-after$/.test(name) && typeof value === 'string') out[name] = value;
  }
  return out;
}

/**
 * `Date.now()` as a manual clock: the compat entry point reads time there, as @fastify/rate-limit
 * does, so tests move it instead of sleeping. Call `restore()` after the test.
 */
export function manualClock(start = 1_700_000_000_000): { advance(ms: number): void; restore(): void } {
  let t = start;
  const spy = jest.spyOn(Date, 'now').mockImplementation(() => t);
  return {
    advance: (ms) => {
      t += ms;
    },
    restore: () => spy.mockRestore(),
  };
}
