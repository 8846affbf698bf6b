import { fastifyHarness } from './adapters/fastify';
import { conformance } from './suite';

conformance(fastifyHarness);
