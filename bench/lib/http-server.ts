/**
 * One benchmark server in its own process (started by ../http.ts under `taskset -c 0`):
 *   node --import tsx bench/lib/http-server.ts <framework> <variant>
 * Prints `{"port":N}` once listening. Then answers line commands on stdin: `cpu` prints
 * `{"cpuUs":N,"t":µs}` (user+system µs of this process so far, monotonic time; `--observe` variants
 * add what their OpenTelemetry recorded so far, read after the clock), `exit` (or stdin closing)
 * exits normally, so `--cpu-prof` gets to write its profile.
 */
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { FRAMEWORKS, type Framework, installObservability, OBSERVE_VARIANTS, startApp, VARIANTS, type Variant } from './http-apps';

const [framework, variant] = process.argv.slice(2) as [Framework, Variant];
if (!FRAMEWORKS.includes(framework) || !OBSERVE_VARIANTS.includes(variant)) {
  process.stderr.write(`usage: http-server.ts <${FRAMEWORKS.join('|')}> <${OBSERVE_VARIANTS.join('|')}>\n`);
  process.exit(2);
}

// Before the app: the request span hook wraps the server's emit, and the subscriber must be there from the first request.
const observed = VARIANTS.includes(variant) ? undefined : await installObservability(variant);
const server = await startApp(framework, variant);
process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line === 'cpu') {
    const { user, system } = process.cpuUsage();
    // `t` is on the monotonic clock V8's CPU profiles use, so a profile can be cut to the load.
    const t = Number(process.hrtime.bigint() / 1000n);
    if (observed === undefined) process.stdout.write(`${JSON.stringify({ cpuUs: user + system, t })}\n`);
    else void observed().then((o) => process.stdout.write(`${JSON.stringify({ cpuUs: user + system, t, ...o })}\n`));
  } else if (line === 'exit') {
    process.exit(0);
  }
});
// The parent died or closed our stdin: do not linger as an orphan on CPU 0.
lines.on('close', () => process.exit(0));
