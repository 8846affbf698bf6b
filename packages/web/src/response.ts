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
