import type { HttpOutcome } from '@ratekeeper/core/http';

/** The limited response: the outcome's status, body and headers. */
export function limitedResponse(out: HttpOutcome, headers: Headers): Response {
  const body = out.body;
  if (body !== undefined) headers.set('content-type', body.contentType);
  return new Response(body?.body ?? null, { status: out.statusCode, headers });
}

/** The outcome's headers as a `Headers` object (empty with `headers: false`). */
export function outcomeHeaders(out: HttpOutcome): Headers {
  const headers = new Headers();
  if (out.headers !== undefined) for (const name in out.headers) headers.set(name, out.headers[name] as string);
  return headers;
}

/**
 * Adds rate-limit headers to a handler's response, removing the names `clear` lists. A response
 * with immutable headers (`Response.redirect()`, a `fetch()` result) is copied first; a protocol
 * switch (101, a WebSocket upgrade) is returned as it is, since a copy would lose the socket.
 */
export function withHeaders(response: Response, headers: Headers, clear: readonly string[] | undefined): Response {
  if (response.status === 101) return response;
  let target = response;
  try {
    apply(target.headers, headers, clear);
  } catch {
    target = new Response(response.body, response);
    apply(target.headers, headers, clear);
  }
  return target;
}

function apply(target: Headers, headers: Headers, clear: readonly string[] | undefined): void {
  if (clear !== undefined) for (const name of clear) target.delete(name);
  for (const [name, value] of headers) target.set(name, value);
}
