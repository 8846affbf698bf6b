import type { HttpOutcome } from './pipeline';
import type { RequestDecision } from './request-decision';

// Several limiters on one Fetch `Request` (app-wide around per-route, in @ratekeeper/web and
// @ratekeeper/hono): their outcomes are kept per request, in the order they ran, and applied in
// that order to the response at the end, as a Node response would have received them one by one.
const outcomes = new WeakMap<Request, HttpOutcome[]>();

/** Records a counted outcome of `request`. */
export function recordOutcome(request: Request, out: HttpOutcome): void {
  const list = outcomes.get(request);
  if (list === undefined) outcomes.set(request, [out]);
  else list.push(out);
}

/** The decision of the last limiter that counted `request`. */
export function lastDecision(request: Request): RequestDecision | undefined {
  return outcomes.get(request)?.at(-1)?.decision;
}

/** Writes the headers of every limiter that counted `request` into `target`, in order (each clears, then sets). */
export function applyOutcomeHeaders(target: Headers, request: Request): void {
  for (const o of outcomes.get(request) ?? []) {
    if (o.clear !== undefined) for (const name of o.clear) target.delete(name);
    if (o.headers !== undefined) for (const name in o.headers) target.set(name, o.headers[name] as string);
  }
}

/**
 * `response` with the rate-limit headers of `request` added. A response with immutable headers
 * (`Response.redirect()`, a `fetch()` result) is copied first; a protocol switch (101, a WebSocket
 * upgrade) is returned as it is, since a copy would lose the socket.
 */
export function withOutcomeHeaders(response: Response, request: Request): Response {
  if (response.status === 101) return response;
  try {
    applyOutcomeHeaders(response.headers, request);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    applyOutcomeHeaders(copy.headers, request);
    return copy;
  }
}
