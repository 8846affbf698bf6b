import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLimiter, type Rule } from '@ratekeeper/core';

/** What a site saw: every request it served, and how many it refused. */
export interface SiteStats {
  served: number;
  limited: number;
}

/** A running local site. */
export interface Site {
  url: string;
  stats: SiteStats;
  close(): Promise<void>;
}

/**
 * A small local website on 127.0.0.1: `/` links to `pages` pages, each linking to its neighbours.
 * It protects itself with ratekeeper (the server side) and answers 429 + Retry-After when crawled too fast.
 */
export async function startSite(options: { pages: number; limit: Rule; now?: () => number }): Promise<Site> {
  const limiter = createLimiter({ rules: [options.limit], ...(options.now ? { now: options.now } : {}) });
  const stats: SiteStats = { served: 0, limited: 0 };
  const page = (n: number) => `/page/${n}`;
  const server = createServer((req, res) => {
    void limiter.consume('crawler').then((d) => {
      if (!d.allowed) {
        stats.limited++;
        res.writeHead(429, { 'retry-after': String(Math.max(1, Math.ceil(d.retryAfterMs / 1000))) }).end('Too Many Requests');
        return;
      }
      const m = /^\/page\/(\d+)$/.exec(req.url ?? '');
      const n = m ? Number(m[1]) : 0;
      if (req.url !== '/' && (!m || n < 1 || n > options.pages)) {
        res.writeHead(404).end();
        return;
      }
      stats.served++;
      const links =
        req.url === '/'
          ? Array.from({ length: options.pages }, (_, i) => page(i + 1))
          : [page(n - 1), page(n + 1)].filter((p) => p !== page(0) && p !== page(options.pages + 1));
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(`<h1>${req.url}</h1>${links.map((l) => `<a href="${l}">${l}</a>`).join(' ')}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
