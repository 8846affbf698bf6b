import { koaHarness } from './adapters/koa';
import { conformance } from './suite';

conformance(koaHarness('koa 3'));
