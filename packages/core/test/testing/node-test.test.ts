import { execFile } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..', '..');

// `@ratekeeper/core/testing` under node:test: the store contract suite, run by `node --test` on the
// memory store (a store author's setup without Jest), must register and pass every test.
it('describeStoreContract runs under node:test', async () => {
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=tap', join(__dirname, 'fixtures', 'memory-contract.node-test.ts')],
      { cwd: ROOT, timeout: 120_000, maxBuffer: 16 << 20 },
      (_error, out) => resolve({ code: child.exitCode, stdout: out }),
    );
  });
  const pass = Number(/^# pass (\d+)$/m.exec(stdout)?.[1]);
  const fail = Number(/^# fail (\d+)$/m.exec(stdout)?.[1]);
  expect({ code, fail }).toEqual({ code: 0, fail: 0 });
  expect(pass).toBeGreaterThan(50);
});
