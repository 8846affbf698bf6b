import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CORE = join(__dirname, '..', '..');

// `@ratekeeper/core/testing` under Vitest: the store contract suite, run by `vitest run` on the
// memory store (a store author's setup with Vitest), must register and pass every test.
it('describeStoreContract runs under Vitest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rk-vitest-'));
  const report = join(dir, 'report.json');
  try {
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile(
        process.execPath,
        [
          join(CORE, 'node_modules', 'vitest', 'vitest.mjs'),
          'run',
          '--root',
          join(__dirname, 'fixtures'),
          '--reporter=json',
          `--outputFile=${report}`,
        ],
        { cwd: CORE, timeout: 120_000, maxBuffer: 16 << 20 },
        () => resolve(child.exitCode),
      );
    });
    const result = JSON.parse(readFileSync(report, 'utf8')) as { numPassedTests: number; numFailedTests: number; success: boolean };
    expect({ code, failed: result.numFailedTests, success: result.success }).toEqual({ code: 0, failed: 0, success: true });
    expect(result.numPassedTests).toBeGreaterThan(50);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
