// Bun entry of the scenario app on Redis: `bun run app.mjs <port> <redis port>`; see bun.ts and redis.ts.

import { bunIp } from '@ratekeeper/web';
import { redisStores } from './redis';
import { createApp } from './scenarios';

declare const Bun: {
  serve(options: { port: number; hostname: string; fetch(request: Request, server: unknown): Promise<Response> }): { port: number };
};
declare const process: { argv: string[] };

const handler = createApp({ name: 'bun', ip: bunIp, stores: redisStores(Number(process.argv[3])) });
const server = Bun.serve({ port: Number(process.argv[2]), hostname: '127.0.0.1', fetch: (request, server) => handler(request, server) });
console.log(`listening on ${server.port}`);
