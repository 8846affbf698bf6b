import { honoHarness } from './adapters/hono';
import { conformance } from './suite';

conformance(honoHarness, { proxyWarnings: false });
