import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app';

export { createApp } from './app';

const server = createServer(createApp().callback());
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`koa-router on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
