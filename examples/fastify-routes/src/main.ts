import { createApp } from './app';

export { createApp } from './app';

const app = await createApp();
const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(`fastify-routes on ${address}`);
