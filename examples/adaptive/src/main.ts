import type { AddressInfo } from 'node:net';
import { createApp } from './app';

export { createApp } from './app';

const { app } = createApp();
const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`adaptive on http://127.0.0.1:${(server.address() as AddressInfo).port} (GET /status shows the load factor)`);
});
