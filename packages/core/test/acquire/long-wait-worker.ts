// Child process of long-waits-process.test.ts. Real timers, real Node: Jest's sandbox never sees the
// process warnings Node's timers emit, so this process listens for them and reports on stdout.
import { createLimiter } from '../../src/index';
import { countingStore } from '../helpers/counting-store';

const warnings: string[] = [];
process.on('warning', (w) => warnings.push(w.name));

async function main(): Promise<void> {
  const { store, calls } = countingStore();
  const limiter = createLimiter({ limit: 1, window: '30d', algorithm: 'token-bucket', store });
  await limiter.consume('k');
  const controller = new AbortController();
  const waiting = limiter.acquire('k', { signal: controller.signal }).catch(() => 'aborted');
  // A few turns of the event loop, no sleeping: enough for the sleep to be armed and a warning to be emitted.
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  controller.abort();
  await waiting;
  await new Promise<void>((r) => setImmediate(r));
  process.stdout.write(JSON.stringify({ warnings, consumeCalls: calls.consume }));
}

void main();
