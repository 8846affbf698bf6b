// Deno entry of the scenario app on Redis: `deno run --allow-net … app.mjs <port> <redis port>`; see deno.ts and redis.ts.

import { denoIp } from '@ratekeeper/web';
import { redisStores } from './redis';
import { createApp } from './scenarios';

declare const Deno: {
  args: string[];
  serve(
    options: { port: number; hostname: string; onListen(addr: { port: number }): void },
    handler: (request: Request, info: unknown) => Promise<Response>,
  ): unknown;
};

const handler = createApp({ name: 'deno', ip: denoIp, stores: redisStores(Number(Deno.args[1])) });
Deno.serve(
  { port: Number(Deno.args[0]), hostname: '127.0.0.1', onListen: ({ port }) => console.log(`listening on ${port}`) },
  (request, info) => handler(request, info),
);
