/**
 * Helpers for adapters on Node's `http` server (Express, Fastify, Koa), typed structurally so the
 * pipeline itself never depends on `node:http`.
 */

/** What the helpers read of an `IncomingMessage`. */
export interface NodeRequestLike {
  readonly rawHeaders: readonly string[];
}

/** What the helpers use of a `ServerResponse`. */
export interface NodeResponseLike {
  readonly statusCode: number;
  on(event: 'close', listener: () => void): unknown;
  setHeader(name: string, value: string): unknown;
  removeHeader(name: string): void;
}

/**
 * A request header by lower-case name, scanning `rawHeaders`: Node builds the `headers` object
 * lazily, and reading it would build it for every request of an app that never looks at headers.
 */
export function nodeHeader(raw: NodeRequestLike, name: string): string | undefined {
  const h = raw.rawHeaders;
  const n = name.length;
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i] as string;
    if (k.length === n && k.toLowerCase() === name) return h[i + 1];
  }
  return undefined;
}

/**
 * Calls `finish` with the final status when the response closes: `close` fires exactly once, after
 * `finish` or when the client aborted (the pipeline settles at most once anyway).
 */
export function finishOnClose(res: NodeResponseLike, finish: ((statusCode: number) => void) | undefined): void {
  if (finish !== undefined) res.on('close', () => finish(res.statusCode));
}

/** Applies an outcome's headers to a Node response: clears what an earlier limiter set, then sets. */
export function setNodeHeaders(
  res: NodeResponseLike,
  headers: Readonly<Record<string, string>> | undefined,
  clear: readonly string[] | undefined,
): void {
  if (clear !== undefined) for (const name of clear) res.removeHeader(name);
  if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name] as string);
}
