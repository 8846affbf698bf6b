import { forwardedFor } from '@ratekeeper/web';

/**
 * The client address. `next start` runs with no proxy in front, and Next itself fills in
 * `X-Forwarded-For` with the socket's address when the request has none: `forwardedFor(1)` (the
 * rightmost entry) reads that. A client can still send its own `X-Forwarded-For` and pick its key
 * (the test does exactly that), so in production put one proxy you run in front (it appends the
 * address it saw: `forwardedFor(1)` then reads the proxy's entry), or, on Vercel, use `vercelIp`
 * (`X-Real-IP`, which Vercel's edge overwrites). Both runtimes below import this one choice.
 */
export const clientIp = forwardedFor(1);
