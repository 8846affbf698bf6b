import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Express } from 'express';
import { createRoutingControllersApp } from './routing-controllers/app';
import { createTsoaApp } from './tsoa/app';

// PORT=3000 npm start: routing-controllers on PORT, tsoa on PORT + 1 (PORT=0: two free ports).
const port = Number(process.env.PORT ?? 3000);

function listen(name: string, app: Express, on: number): Promise<Server> {
  return new Promise((resolve) => {
    const server = app.listen(on, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      console.log(`${name} on ${url}  (try: curl -i -X POST ${url}/auth/login; curl -i ${url}/items/1)`);
      resolve(server);
    });
  });
}

await listen('routing-controllers', createRoutingControllersApp(), port);
await listen('tsoa', await createTsoaApp(join(import.meta.dirname, '..')), port === 0 ? 0 : port + 1);
