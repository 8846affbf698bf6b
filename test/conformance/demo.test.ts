import { execFile } from 'node:child_process';
import { join } from 'node:path';

// `pnpm demo` is the README's first command: run it the same way, told to exit after its burst.
describe('pnpm demo', () => {
  it('serves on loopback, shows allowed and limited counts and a limited response, then exits', async () => {
    const root = join(__dirname, '..', '..');
    const { stdout, code } = await new Promise<{ stdout: string; code: number | null }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/demo.ts'],
        { cwd: root, env: { ...process.env, DEMO_EXIT: '1', PORT: '0' }, timeout: 25_000 },
        (_error, out) => resolve({ stdout: out, code: child.exitCode }),
      );
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/Burst of 8 requests to GET \/api\/search: 5 allowed, 3 limited \(429\)\./);
    expect(stdout).toMatch(/HTTP 429 Too Many Requests/);
    expect(stdout).toMatch(/ratelimit-policy: .*"burst";q=5;w=10/);
    expect(stdout).toMatch(/retry-after: \d+/);
    expect(stdout).not.toMatch(/Serving on/);
  });
});
