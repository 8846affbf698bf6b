import { execFile } from 'node:child_process';
import { join } from 'node:path';

// Node emits TimeoutOverflowWarning on the real process object, which Jest's sandbox `process` does not
// receive; a child process with real timers listens for it. No sleeping: the child aborts its 30-day
// wait after a few turns of the event loop.
describe('a 30-day wait in a real Node process', () => {
  it('emits no TimeoutOverflowWarning and asks the store once', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', join(__dirname, 'long-wait-worker.ts')], (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      );
    });
    const report = JSON.parse(out) as { warnings: string[]; consumeCalls: number };
    expect(report.warnings).toEqual([]);
    // The consume that used the unit, then the waiter's one question; no spinning on a 1 ms timer.
    expect(report.consumeCalls).toBe(2);
  });
});
