import { redisRuntimeSuite } from './redis-suite';
import { startRuntime } from './server';

redisRuntimeSuite('deno');

describe('ioredis on Deno without --allow-env', () => {
  // ioredis requires `debug`, whose Node build lists every environment variable when it loads
  // (`Object.keys(process.env)`, for its DEBUG_* options): Deno refuses that without --allow-env,
  // so the app stops before it serves. The Redis runs above pass --allow-env.
  it('stops at load with NotCapable: Requires env access', async () => {
    const start = startRuntime('deno', { redisPort: Number(process.env.RK_REDIS_PORT), denoAllowEnv: false });
    await expect(start).rejects.toThrow(
      /deno exited with code 1 before answering:[\s\S]*NotCapable: Requires env access, run again with the --allow-env flag/,
    );
    await expect(start).rejects.toThrow(/exports\.inspectOpts = Object\.keys\(process\.env\)/);
  });
});
