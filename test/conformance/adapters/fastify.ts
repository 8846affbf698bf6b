import { rateLimitPlugin } from '@ratekeeper/fastify';
import Fastify, { type FastifyReply, type FastifyRequest, type RouteShorthandOptions } from 'fastify';
import {
  type Answer,
  type AppSetup,
  abortTracker,
  fakeAuth,
  type Harness,
  hold,
  login,
  type RunningApp,
  resetKey,
  twoLimiters,
} from '../harness';

export const fastifyHarness: Harness = {
  name: 'fastify',
  async start(setup: AppSetup): Promise<RunningApp> {
    const app = Fastify({ trustProxy: setup.trustProxy ?? true });
    const abort = abortTracker();
    app.setErrorHandler((error: Error, _request, reply) => reply.code(500).send(`error: ${error.message}`));
    app.addHook('onRequest', (request, _reply, done) => {
      fakeAuth(request.headers);
      done();
    });
    let opts: RouteShorthandOptions = {};
    if (setup.mode === 'route') {
      if (setup.limiters.length > 1) throw new Error('fastify routes take one limiter each');
      await app.register(rateLimitPlugin, { global: false });
      opts = { config: { rateLimit: setup.limiters[0] as never } };
    } else if (setup.mode === 'app+route') {
      // The plugin's options limit the whole app; a route's `config.rateLimit` adds its own limiter.
      const [appWide, perRoute] = twoLimiters(setup.limiters);
      await app.register(rateLimitPlugin, appWide as never);
      opts = { config: { rateLimit: perRoute as never } };
    } else for (const o of setup.limiters) await app.register(rateLimitPlugin, o as never);
    app.get('/ok', opts, async () => 'ok');
    app.get('/bad', opts, async (_req, reply) => reply.code(400).send('bad'));
    app.get('/fail', opts, async (_req, reply) => reply.code(500).send('fail'));
    app.get('/users/:id', opts, async (req: FastifyRequest) => `user ${String((req.params as { id: string }).id)}`);
    app.get('/abort', opts, (_req, reply) => {
      reply.hijack();
      reply.raw.on('close', abort.onClose);
      reply.raw.writeHead(503, { 'Content-Type': 'text/plain' });
      reply.raw.write('partial');
    });
    const answer = async (reply: FastifyReply, pending: Promise<Answer>): Promise<string> => {
      const a = await pending;
      reply.code(a.status).headers(a.headers);
      return a.body;
    };
    app.get('/login', opts, (req, reply) => answer(reply, login(req.rateLimit, req.headers)));
    app.get('/reset', opts, (req, reply) => answer(reply, resetKey(req.rateLimit)));
    app.get('/hold', opts, (req, reply) => answer(reply, hold(req.headers)));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    return {
      url: `http://127.0.0.1:${port}`,
      abortClosed: abort.closed,
      close: async () => {
        app.server.closeAllConnections();
        await app.close();
      },
    };
  },
};
