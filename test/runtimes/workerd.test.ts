import { startRuntime } from './server';
import { runtimeSuite } from './suite';

runtimeSuite('workerd');

describe('workerd without nodejs_compat', () => {
  // Before 2026-08-04 nodejs_compat was not the default: no `node:` module loads there, and the
  // core and the adapters need none (they once imported node:perf_hooks).
  it('loads @ratekeeper/web and @ratekeeper/hono on a compatibility date before 2026-08-04', async () => {
    const server = await startRuntime('workerd', { compatibilityDate: '2025-06-01' });
    try {
      expect((await server.send('/web/basic/ok')).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
