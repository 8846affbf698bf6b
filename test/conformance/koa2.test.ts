import { createRequire } from 'node:module';
import { join } from 'node:path';
import type Koa from 'koa';
import { koaHarness } from './adapters/koa';
import { conformance } from './suite';

// Koa 2 is a dev dependency of @ratekeeper/koa under the alias `koa2`.
const require = createRequire(join(__dirname, '..', '..', 'packages', 'koa', 'package.json'));
const Koa2 = require('koa2') as new () => Koa;

it('runs against Koa 2', () => {
  expect((require('koa2/package.json') as { version: string }).version).toMatch(/^2\./);
});

conformance(koaHarness('koa 2', Koa2));
