import { createRateLimiter } from '@ratekeeper/web';
import { type NextRequest, NextResponse } from 'next/server';
import { clientIp } from './limits';

// Every /api route: 10 requests a minute per client, counted before any route runs. The memory
// store counts per server process: for one count across instances pass a shared `store`.
const limiter = createRateLimiter({ limit: 10, window: '1m', ip: clientIp });

export async function middleware(request: NextRequest): Promise<NextResponse | Response> {
  const r = await limiter.check(request);
  if (r.response !== undefined) return r.response;
  return NextResponse.next({ headers: r.headers });
}

// Next's default runtime for middleware (Edge): @ratekeeper/web and the core use no Node API.
export const config = { matcher: '/api/:path*' };
