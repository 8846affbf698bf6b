import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { redisPort, uniquePrefix } from '../stores/redis/helpers';

// Two real processes acquire from one real redis-server (started by the Jest global setup). Their clocks
// are virtual and advanced in lockstep by this test (RedisStore clock: 'client'), so no wall-clock sleeps.

type Reply = { type: 'idle'; grants: number[] };

function request(child: ChildProcess, msg: object): Promise<Reply> {
  const reply = once(child, 'message') as Promise<[Reply]>;
  child.send(msg);
  return reply.then(([r]) => r);
}

describe('acquire with a RedisStore across two processes', () => {
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null) {
        c.send({ type: 'stop' });
        await once(c, 'exit');
      }
    }
  });

  it('keeps the combined rate: 10/s with burst 5 shared by both, one grant every 100 ms', async () => {
    for (let i = 0; i < 2; i++) {
      children.push(fork(join(__dirname, 'redis-acquire-worker.ts'), [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' }));
    }
    const prefix = uniquePrefix('acquire2p');
    const t0 = 1_700_000_000_000;
    let replies = await Promise.all(children.map((c) => request(c, { type: 'start', port: redisPort(), prefix, count: 15, t0 })));
    expect(replies.flatMap((r) => r.grants)).toHaveLength(5);
    const combined = (rs: Reply[]) => rs.flatMap((r) => r.grants).sort((a, b) => a - b);
    for (let t = 10; t <= 1500; t += 10) {
      replies = await Promise.all(children.map((c) => request(c, { type: 'advance', ms: 10 })));
      // Never more than the burst plus what the rate refilled, across both processes together.
      expect(combined(replies).length).toBeLessThanOrEqual(5 + Math.floor(t / 100));
    }
    const expected = [...Array<number>(5).fill(0), ...Array.from({ length: 15 }, (_, i) => (i + 1) * 100)];
    expect(combined(replies)).toEqual(expected);
    // Both processes got turns: the budget is shared, not owned by whoever came first.
    for (const r of replies) expect(r.grants.length).toBeGreaterThan(0);
    // Ten more waiters remain (30 asked, 20 granted by 1.5 s).
    expect(replies.reduce((n, r) => n + r.grants.length, 0)).toBe(20);
  });
});
