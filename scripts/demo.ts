// `pnpm demo`: an Express server limited by ratekeeper on the embedded memory store. It fires a
// short burst at itself, shows what clients see, then keeps serving (DEMO_EXIT=1: exits instead).
import type { AddressInfo } from 'node:net';
import { rateLimit } from '@ratekeeper/express';
import express from 'express';

const app = express();

// Every route: 100 requests per 15 minutes per client.
app.use(rateLimit({ limit: 100, window: '15m' }));

app.get('/', (_req, res) => {
  res.send('Hello from ratekeeper. Try /api/search a few times.\n');
});

// One route with its own tighter limits: 5 per 10 seconds and 20 per hour, both enforced.
app.get(
  '/api/search',
  rateLimit({
    rules: [
      { limit: 5, window: '10s', name: 'burst' },
      { limit: 20, window: '1h', name: 'hourly' },
    ],
    key: ['ip', 'route'],
    message: { error: 'Too many searches, slow down.' },
  }),
  (req, res) => {
    res.json({ results: [], remaining: req.rateLimit?.remaining });
  },
);

const SHOWN = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit-policy', 'ratelimit', 'retry-after'];

async function burst(base: string, path: string, n: number): Promise<void> {
  let allowed = 0;
  let limited = 0;
  let example: Response | undefined;
  let body = '';
  for (let i = 0; i < n; i++) {
    const res = await fetch(base + path);
    const text = await res.text();
    if (res.status === 429) {
      limited++;
      if (example === undefined) {
        example = res;
        body = text;
      }
    } else allowed++;
  }
  console.log(`Burst of ${n} requests to GET ${path}: ${allowed} allowed, ${limited} limited (429).`);
  if (example !== undefined) {
    console.log('\nA limited response:');
    console.log(`  HTTP ${example.status} ${example.statusText}`);
    for (const name of SHOWN) {
      const value = example.headers.get(name);
      if (value !== null) console.log(`  ${name}: ${value}`);
    }
    console.log(`  body: ${body}`);
  }
}

function listen(port: number): Promise<ReturnType<typeof app.listen>> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, '127.0.0.1');
    server.once('listening', () => resolve(server));
    server.once('error', reject);
  });
}

async function main(): Promise<void> {
  const wanted = Number(process.env.PORT ?? 3000);
  // Port 3000 taken? Any free port will do for a demo.
  const server = await listen(wanted).catch(() => listen(0));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await burst(base, '/api/search', 8);
  if (process.env.DEMO_EXIT === '1') {
    server.close();
    return;
  }
  console.log(`\nServing on ${base}  (try: curl -i ${base}/api/search)  Ctrl+C to stop.`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
