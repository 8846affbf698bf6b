import type { AddressInfo } from 'node:net';
import { createApp } from './app';

export { createApp } from './app';

const { app, close } = createApp();
const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`observability example on ${url} (Prometheus metrics: ${url}/metrics)`);
});
process.once('SIGTERM', () => {
  close();
  server.close();
});
