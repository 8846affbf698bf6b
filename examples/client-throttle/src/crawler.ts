import { type FetchLike, type Rule, rateLimitedFetch } from '@ratekeeper/core';

/** Options of {@link crawl}. */
export interface CrawlOptions {
  /** The politeness rule each host gets. */
  perHost: Rule;
  /** How often a 429 is retried after the pause the server asks for. @default 3 */
  retries?: number;
  /** The underlying fetch (tests wrap it to record send times). @default globalThis.fetch */
  fetch?: FetchLike;
  /** Clock for the limiter (tests pass a fake one). */
  now?: () => number;
}

/** What a crawl found: the final status of every page it visited. */
export interface CrawlResult {
  pages: Map<string, number>;
}

/**
 * Crawls every same-origin link reachable from `startUrls`. All discovered pages are requested at once;
 * the per-host limiter makes them go out politely, one host never slowing down another.
 */
export async function crawl(startUrls: string[], options: CrawlOptions): Promise<CrawlResult> {
  const politeFetch = rateLimitedFetch({
    perHost: options.perHost,
    retries: options.retries ?? 3,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const pages = new Map<string, number>();
  const visit = async (url: string): Promise<void> => {
    if (pages.has(url)) return;
    pages.set(url, 0);
    const res = await politeFetch(url);
    pages.set(url, res.status);
    const html = await res.text();
    const links = [...html.matchAll(/href="([^"]+)"/g)].map((m) => new URL(m[1] as string, url).href);
    await Promise.all(links.filter((l) => new URL(l).origin === new URL(url).origin).map(visit));
  };
  await Promise.all(startUrls.map((u) => visit(new URL(u).href)));
  return { pages };
}
