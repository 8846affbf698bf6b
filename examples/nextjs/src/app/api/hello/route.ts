import { createRateLimiter } from '@ratekeeper/web';
import { clientIp } from '../../../limits';

// This route's own limit, on top of the middleware's: 3 requests a minute per client.
const limiter = createRateLimiter({ limit: 3, window: '1m', ip: clientIp });

export const GET = limiter.wrap(() => Response.json({ hello: 'world' }), { route: 'GET /api/hello' });
