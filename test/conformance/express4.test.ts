import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Express } from 'express';
import { expressHarness } from './adapters/express';
import { conformance } from './suite';

// Express 4 is a dev dependency of @ratekeeper/express under the alias `express4`.
const require = createRequire(join(__dirname, '..', '..', 'packages', 'express', 'package.json'));
const express4 = require('express4') as () => Express;

it('runs against Express 4', () => {
  expect((require('express4/package.json') as { version: string }).version).toMatch(/^4\./);
});

conformance(expressHarness('express 4', express4));
