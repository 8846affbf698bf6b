import type { AddressInfo } from 'node:net';
import { createApp } from './app';

export { createApp } from './app';

const server = createApp().listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`tiered-plans on ${url}  (try: curl -i -H 'Authorization: Bearer token-pro' ${url}/api/data)`);
});
