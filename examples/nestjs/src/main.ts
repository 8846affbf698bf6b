import { createApp } from './app';

const app = await createApp();
await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
const url = await app.getUrl();
console.log(
  `nestjs example on ${url}  (try: curl -i -X POST ${url}/auth/login; curl -i -H 'Authorization: Bearer token-pro' ${url}/api/data)`,
);
