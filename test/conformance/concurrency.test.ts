import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Express } from 'express';
import type Koa from 'koa';
import { expressHarness } from './adapters/express';
import { fastifyHarness } from './adapters/fastify';
import { honoHarness } from './adapters/hono';
import { koaHarness } from './adapters/koa';
import { webHarness } from './adapters/web';
import { concurrencyConformance } from './concurrency';

// Express 4 and Koa 2 are dev dependencies of their adapters under the aliases `express4` and `koa2`.
const express4 = createRequire(join(__dirname, '..', '..', 'packages', 'express', 'package.json'))('express4') as () => Express;
const Koa2 = createRequire(join(__dirname, '..', '..', 'packages', 'koa', 'package.json'))('koa2') as new () => Koa;

for (const harness of [
  expressHarness('express 5'),
  expressHarness('express 4', express4),
  fastifyHarness,
  koaHarness('koa 3'),
  koaHarness('koa 2', Koa2),
  honoHarness,
  webHarness,
])
  concurrencyConformance(harness);
