// Bun entry of the scenario app: `bun run app.mjs <port>`, the client address from `server.requestIP`.

import { bunIp } from '@ratekeeper/web';
import { createApp } from './scenarios';

declare const Bun: {
  serve(options: { port: number; hostname: string; fetch(request: Request, server: unknown): Promise<Response> }): { port: number };
};
declare const process: { argv: string[] };

const handler = createApp({ name: 'bun', ip: bunIp });
const server = Bun.serve({ port: Number(process.argv[2]), hostname: '127.0.0.1', fetch: (request, server) => handler(request, server) });
console.log(`listening on ${server.port}`);
