import { redisRuntimeSuite } from './redis-suite';

redisRuntimeSuite('bun');
