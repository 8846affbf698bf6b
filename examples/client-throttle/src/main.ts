// One command: `pnpm start` (node --import tsx src/main.ts). Starts two local sites and crawls both politely.
import { crawl } from './crawler';
import { startSite } from './site';

const fast = await startSite({ pages: 8, limit: { limit: 5, window: '1s' } });
// This one allows 1 request per second and says so with 429 + Retry-After when pushed.
const strict = await startSite({ pages: 4, limit: { limit: 1, window: '1s', algorithm: 'fixed-window' } });
const started = performance.now();
try {
  const { pages } = await crawl([fast.url, strict.url], { perHost: { limit: 4, window: '1s', algorithm: 'gcra' }, retries: 5 });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const ok = [...pages.values()].filter((s) => s === 200).length;
  console.log(`crawled ${ok}/${pages.size} pages in ${seconds} s`);
  console.log(`fast site:   served ${fast.stats.served}, answered 429 ${fast.stats.limited} times`);
  console.log(
    `strict site: served ${strict.stats.served}, answered 429 ${strict.stats.limited} times (each one paused that host, not the other)`,
  );
} finally {
  await Promise.all([fast.close(), strict.close()]);
}
