import { replaySafeClusterOptions } from '@ratekeeper/core/redis';
import { Cluster } from 'ioredis';
import supertest from 'supertest';
import { createApp } from '../src/app';

// Uses the 3-master Cluster started by the Jest global setup (RK_CLUSTER_PORTS).
const ports = (process.env.RK_CLUSTER_PORTS ?? '').split(',').filter(Boolean).map(Number);
const cluster = new Cluster(
  ports.map((port) => ({ host: '127.0.0.1', port })),
  { ...replaySafeClusterOptions },
);
afterAll(() => cluster.quit());

describe('examples/redis-cluster', () => {
  beforeAll(async () => {
    if (ports.length === 0) throw new Error('RK_CLUSTER_PORTS is not set: run through Jest (global setup starts the Cluster)');
    await new Promise<void>((resolve) => (cluster.status === 'ready' ? resolve() : cluster.once('ready', () => resolve())));
  });

  it('two app instances share one limit through the Cluster: the 11th request in a burst is refused', async () => {
    const a = supertest(createApp(cluster, { timeoutMs: 30_000 }));
    const b = supertest(createApp(cluster, { timeoutMs: 30_000 }));
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await (i % 2 ? a : b).get('/')).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses[10]).toBe(429);
    const denied = await a.get('/');
    expect(denied.status).toBe(429);
    expect(Number(denied.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });
});
