import type { AddressInfo } from 'node:net';
import { replaySafeClusterOptions } from '@ratekeeper/core/redis';
import { Cluster } from 'ioredis';
import { createApp } from './app';

// REDIS_CLUSTER=127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 npm start
const nodes = (process.env.REDIS_CLUSTER ?? '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002').split(',').map((hostPort) => {
  const [host, port] = hostPort.split(':');
  return { host: host ?? '127.0.0.1', port: Number(port) };
});
const cluster = new Cluster(nodes, { ...replaySafeClusterOptions });
cluster.on('error', (error) => console.error('redis:', error.message));

const server = createApp(cluster).listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`redis-cluster example on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
