// Prelude `redis`: an ioredis client.
import { Redis } from 'ioredis';

const redis = new Redis();
