import { execFile } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

// The registry behind resetAllLimiters() holds limiters weakly and must stay bounded in an app that
// keeps creating and dropping limiters (a rules function with ever-new rule sets). Run in a child
// with --expose-gc so collection happens when the test says, not when V8 likes.
it('stays within about twice the live limiters while limiters are created and dropped', async () => {
  const script = `
    import { createLimiter } from './packages/core/src/index.ts';
    import { liveLimiters, trackedCount } from './packages/core/src/registry.ts';
    const keep = createLimiter({ limit: 1, window: '1s' });
    let most = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 500; i++) createLimiter({ limit: 1 + i, window: '1s' });
      await new Promise((r) => setImmediate(r));
      globalThis.gc();
      await new Promise((r) => setImmediate(r));
      most = Math.max(most, trackedCount());
    }
    console.log(JSON.stringify({ most, kept: liveLimiters().includes(keep), live: liveLimiters().length }));
  `;
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT, timeout: 60_000 },
      (error, out) => (error ? reject(error) : resolve(out)),
    ),
  );
  const { most, kept, live } = JSON.parse(stdout.trim().split('\n').pop() as string) as { most: number; kept: boolean; live: number };
  expect(kept).toBe(true);
  expect(live).toBeLessThan(100);
  // 10,001 limiters were created; without pruning all 10,001 entries would stay.
  expect(most).toBeLessThan(1_200);
});
