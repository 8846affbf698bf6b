// Prelude `fastify`: the Fastify app a block uses without creating it.
import Fastify from 'fastify';

const app = Fastify();
