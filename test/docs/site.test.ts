// The documentation site (issue 18), end to end: `pnpm docs:build` builds it into a temporary
// folder, a static server serves it on 127.0.0.1, and Debian's Chromium (through playwright-core)
// drives the simulator. Every number the page shows is checked against @ratekeeper/core run here,
// in Node, by a plain loop over `limiter.consume` on a manual clock: not against the simulator's
// own module. A screenshot of the simulator is saved to test-artifacts/ (git-ignored).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { type Algorithm, createLimiter, type Decision, type HeaderFormat, type LimiterOptions } from '@ratekeeper/core';
import { rateLimitHeaders } from '@ratekeeper/core/http';
import { manualClock } from '@ratekeeper/core/testing';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type ApiExample, allSnippets, checkApiExamples, extractSnippets } from '../snippets/snippets';
import { fileFor, type StaticServer, serveStatic } from './static-server';

const ROOT = join(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const REPO_URL = 'https://github.com/ratekeeper/ratekeeper';
const ALL: readonly Algorithm[] = ['fixed-window', 'anchored-window', 'sliding-window', 'sliding-log', 'token-bucket', 'gcra'];
const ADAPTERS = ['express', 'fastify', 'koa', 'web', 'hono', 'nestjs'];
/** A browser test's budget: generous, for a machine busy with the rest of `pnpm test`. */
const BROWSER_TIMEOUT = 120_000;

/** Debian's package installs /usr/bin/chromium; scripts/ensure-chromium.sh installs it when missing. */
function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  const found = candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
  if (found === undefined) throw new Error('Chromium not found: run `bash scripts/ensure-chromium.sh` (Debian: apt-get install chromium)');
  return found;
}

/** `pnpm docs:build` into `outDir`, with the pnpm that runs this test (`pnpm test`), else through npx. */
function buildSite(outDir: string): number {
  const execPath = process.env.npm_execpath;
  const args = ['run', 'docs:build', '--outDir', outDir];
  const [command, argv] =
    execPath !== undefined && /pnpm/.test(execPath) ? [process.execPath, [execPath, ...args]] : ['npx', ['-y', 'pnpm@10', ...args]];
  const started = Date.now();
  execFileSync(command, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  return Date.now() - started;
}

interface Scenario {
  algorithms: Algorithm[];
  limit: number;
  windowMs: number;
  burst: number;
  blockForMs: number;
  pattern: string;
  rate: number;
  durationMs: number;
  trace: number[];
}

interface Point {
  t: number;
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number | null;
}

interface Published {
  scenario: Scenario;
  at: number;
  headerFormats: HeaderFormat[];
  origin: number;
  durationMs: number;
  times: number[];
  series: { algorithm: Algorithm; points: Point[]; allowed: number; denied: number }[];
  headers: { algorithm: Algorithm; decision: Point; headers: Record<string, string> }[];
}

/** The limiter a reader would write for the scenario's rule, on a manual clock. */
function nodeLimiter(s: Scenario, algorithm: Algorithm, origin: number) {
  const clock = manualClock(origin);
  const options = {
    limit: s.limit,
    window: s.windowMs,
    algorithm,
    ...(s.burst > 0 && (algorithm === 'token-bucket' || algorithm === 'gcra') ? { burst: s.burst } : {}),
    ...(s.blockForMs > 0 ? { blockFor: s.blockForMs } : {}),
    now: clock.now,
  } as LimiterOptions;
  return { clock, limiter: createLimiter(options) };
}

const toPoint = (t: number, d: Decision): Point => ({
  t,
  allowed: d.allowed,
  remaining: d.remaining,
  resetMs: d.resetMs,
  retryAfterMs: Number.isFinite(d.retryAfterMs) ? d.retryAfterMs : null,
});

/** One client, one request of cost 1 at each time: what @ratekeeper/core decides, in Node. */
async function decideInNode(s: Scenario, algorithm: Algorithm, origin: number, times: readonly number[]): Promise<Point[]> {
  const { clock, limiter } = nodeLimiter(s, algorithm, origin);
  const points: Point[] = [];
  for (const t of times) {
    clock.set(origin + t);
    points.push(toPoint(t, await limiter.consume('client')));
  }
  return points;
}

/** The headers of a request at `at` after the requests before it, in Node. */
async function headersInNode(
  s: Scenario,
  algorithm: Algorithm,
  origin: number,
  times: readonly number[],
  at: number,
  formats: readonly HeaderFormat[],
) {
  const { clock, limiter } = nodeLimiter(s, algorithm, origin);
  for (const t of times) {
    if (t >= at) break;
    clock.set(origin + t);
    await limiter.consume('client');
  }
  clock.set(origin + at);
  const decision = await limiter.consume('client');
  return { decision: toPoint(at, decision), headers: rateLimitHeaders(decision, formats) };
}

/** Checks a published simulation against core in Node, algorithm by algorithm. */
async function expectSameAsNode(data: Published): Promise<void> {
  expect(data.origin % data.scenario.windowMs).toBe(0);
  expect(data.series.map((s) => s.algorithm)).toEqual(data.scenario.algorithms);
  for (const series of data.series) {
    const expected = await decideInNode(data.scenario, series.algorithm, data.origin, data.times);
    expect({ algorithm: series.algorithm, points: series.points }).toEqual({ algorithm: series.algorithm, points: expected });
    expect(series.allowed).toBe(expected.filter((p) => p.allowed).length);
    expect(series.denied).toBe(expected.length - series.allowed);
  }
  for (const h of data.headers) {
    const expected = await headersInNode(data.scenario, h.algorithm, data.origin, data.times, data.at, data.headerFormats);
    expect({ algorithm: h.algorithm, ...expected }).toEqual({ algorithm: h.algorithm, decision: h.decision, headers: h.headers });
  }
}

async function published(page: Page): Promise<Published> {
  const json = await page.locator('[data-testid="rk-simulator"]').getAttribute('data-series');
  if (json === null) throw new Error('the simulator publishes no data-series');
  return JSON.parse(json) as Published;
}

async function openSimulator(page: Page, url: string): Promise<Published> {
  await page.goto(url);
  await page.locator('[data-testid="rk-simulator"][data-ready="true"]').waitFor();
  const data = await published(page);
  // The same object is on window.__rkSim.
  expect(await page.evaluate(() => (window as unknown as { __rkSim?: unknown }).__rkSim)).toEqual(data);
  return data;
}

/** A deterministic trace: bursts around the window edges and scattered requests. */
function makeTrace(): number[] {
  const out: number[] = [];
  let seed = 42;
  const next = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let edge = 1000; edge <= 5000; edge += 1000) for (let i = 0; i < 6; i++) out.push(edge - 60 + i * 20);
  for (let i = 0; i < 60; i++) out.push(Math.floor(next() * 6000));
  return out.sort((a, b) => a - b);
}

const decode = (html: string): string =>
  html
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x([\da-f]+);/gi, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&amp;/g, '&');

function htmlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? htmlFiles(join(dir, e.name)) : e.name.endsWith('.html') ? [join(dir, e.name)] : [],
  );
}

/** The URL path a built file is served at (clean URLs). */
function pathOf(dist: string, file: string): string {
  const rel = relative(dist, file).split('\\').join('/');
  return `/${rel.replace(/(^|\/)index\.html$/, '$1').replace(/\.html$/, '')}`;
}

/** The API reference's examples: the code blocks of the pages TypeDoc wrote to docs/api/ (`docs:api`). */
function apiExamples(): ApiExample[] {
  const dir = join(ROOT, 'docs', 'api');
  const pages = (sub: string): string[] =>
    readdirSync(join(dir, sub), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? pages(join(sub, e.name)) : e.name.endsWith('.md') && e.name !== 'index.md' ? [join(sub, e.name)] : [],
    );
  return pages('').flatMap((page) => {
    const module = `@ratekeeper/${page.replace(/\.md$/, '').split('\\').join('/')}`;
    const markdown = `docs/api/${page.split('\\').join('/')}`;
    return extractSnippets(markdown, readFileSync(join(dir, page), 'utf8')).map((snippet) => ({ snippet, module }));
  });
}

describe('documentation site', () => {
  let dist: string;
  let buildMs: number;
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    const out = mkdtempSync(join(tmpdir(), 'rk-docs-'));
    dist = join(out, 'dist');
    buildMs = buildSite(dist);
    server = await serveStatic(dist);
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
  }, 360_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dist !== undefined) rmSync(join(dist, '..'), { recursive: true, force: true });
  });

  it('builds the guides, a page per adapter, the API reference, the simulator and a search index', () => {
    // Visible in the test output: the build's share of the suite's time.
    process.stdout.write(`docs:build took ${(buildMs / 1000).toFixed(1)} s\n`);
    for (const name of readdirSync(join(ROOT, 'docs')).filter((n) => n.endsWith('.md'))) {
      expect(existsSync(join(dist, name.replace(/\.md$/, '.html')))).toBe(true);
    }
    for (const adapter of ADAPTERS) {
      const html = readFileSync(join(dist, 'packages', `${adapter}.html`), 'utf8');
      // The page is the package's README.
      const title = /^# (.+)$/m.exec(readFileSync(join(ROOT, 'packages', adapter, 'README.md'), 'utf8'))?.[1] ?? '';
      expect(decode(html)).toContain(title.replace(/`/g, ''));
    }
    const api = readFileSync(join(dist, 'api', 'core.html'), 'utf8');
    for (const symbol of ['createLimiter', 'MemoryStore', 'ConfigError']) expect(api).toContain(`id="${symbol.toLowerCase()}"`);
    expect(readFileSync(join(dist, 'api', 'core', 'http.html'), 'utf8')).toContain('id="ratelimitheaders"');
    expect(readdirSync(join(dist, 'assets', 'chunks')).some((f) => f.startsWith('@localSearchIndex'))).toBe(true);
  });

  it(
    'simulates a scenario from the URL in Chromium exactly as @ratekeeper/core decides it in Node',
    async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      const trace = makeTrace();
      const query = `algorithms=${ALL.join(',')}&limit=5&window=1000&burst=8&blockFor=1500&pattern=trace&trace=${trace.join(',')}&at=2010&headers=draft-6,draft-7`;
      const data = await openSimulator(page, `${server.url}/simulator?${query}`);

      expect(data.scenario).toMatchObject({ algorithms: ALL, limit: 5, windowMs: 1000, burst: 8, blockForMs: 1500, pattern: 'trace' });
      expect(data.times).toEqual(trace);
      expect(data.at).toBe(2010);
      expect(data.headerFormats).toEqual(['draft-6', 'draft-7']);
      expect(Object.keys(data.headers[0]?.headers ?? {})).toContain('RateLimit-Remaining');
      await expectSameAsNode(data);
      // A meaningful scenario: every algorithm allows and denies, and they do not all agree.
      for (const s of data.series) expect([s.allowed > 0, s.denied > 0]).toEqual([true, true]);
      expect(new Set(data.series.map((s) => s.allowed)).size).toBeGreaterThan(1);

      // The charts and the header panels show those numbers.
      for (const s of data.series) {
        const figure = page.locator(`figure.rk-chart[data-algorithm="${s.algorithm}"]`);
        await expect(figure.locator('figcaption').textContent()).resolves.toContain(`${s.allowed} allowed`);
        expect(await figure.locator('rect.rk-bar-denied').count()).toBeGreaterThan(0);
      }
      for (const h of data.headers) {
        const text = await page.locator(`.rk-response[data-algorithm="${h.algorithm}"] pre`).textContent();
        for (const [name, value] of Object.entries(h.headers)) expect(text).toContain(`${name}: ${value}`);
      }
      expect(errors).toEqual([]);
      await page.close();
    },
    BROWSER_TIMEOUT,
  );

  it(
    'follows the controls, keeps the scenario in the URL and restores it on reload; saves a screenshot',
    async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await openSimulator(page, `${server.url}/simulator`);

      await page.check('input[name="algorithm-gcra"]');
      await page.uncheck('input[name="algorithm-sliding-window"]');
      await page.selectOption('select[name="pattern"]', 'ramp');
      await page.check('input[name="headers-draft-7"]');
      for (const [name, value] of [
        ['limit', '4'],
        ['window', '2000'],
        ['burst', '6'],
        ['rate', '9'],
        ['duration', '12000'],
      ] as const) {
        await page.fill(`input[name="${name}"]`, value);
        await page.press(`input[name="${name}"]`, 'Tab');
      }
      await page.waitForFunction(() => {
        const el = document.querySelector<HTMLElement>('[data-testid="rk-simulator"]');
        const s = JSON.parse(el?.dataset.series ?? '{}') as { scenario?: { durationMs?: number } };
        return s.scenario?.durationMs === 12_000;
      });
      // A click on a chart picks the moment whose headers are shown.
      const chart = page.locator('figure.rk-chart svg').first();
      const box = await chart.boundingBox();
      if (box === null) throw new Error('no chart');
      const before = (await published(page)).at;
      await chart.click({ position: { x: box.width * 0.75, y: box.height / 2 } });
      await page.waitForFunction((old) => {
        const el = document.querySelector<HTMLElement>('[data-testid="rk-simulator"]');
        return (JSON.parse(el?.dataset.series ?? '{}') as { at?: number }).at !== old;
      }, before);

      const data = await published(page);
      expect(data.scenario).toMatchObject({
        algorithms: ['fixed-window', 'gcra'],
        limit: 4,
        windowMs: 2000,
        burst: 6,
        pattern: 'ramp',
        rate: 9,
        durationMs: 12_000,
      });
      expect(data.at).toBeGreaterThan(7000);
      expect(data.at).toBeLessThan(10_000);
      await expectSameAsNode(data);

      const url = new URL(page.url());
      expect(Object.fromEntries(url.searchParams)).toMatchObject({
        algorithms: 'fixed-window,gcra',
        limit: '4',
        window: '2000',
        burst: '6',
        pattern: 'ramp',
        at: `${data.at}`,
        headers: 'legacy,draft-7,draft-8',
      });
      await page.reload();
      await page.locator('[data-testid="rk-simulator"][data-ready="true"]').waitFor();
      expect(await published(page)).toEqual(data);
      expect(await page.inputValue('input[name="limit"]')).toBe('4');

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'docs-simulator.png'), fullPage: true });
      expect(existsSync(join(ARTIFACTS, 'docs-simulator.png'))).toBe(true);
      expect(errors).toEqual([]);
      await page.close();
    },
    BROWSER_TIMEOUT,
  );

  it(
    "renders the guides' charts at build time, from @ratekeeper/core's decisions",
    async () => {
      // The HTML as served, before any script runs.
      const html = await (await fetch(`${server.url}/algorithms`)).text();
      const charts = [...html.matchAll(/<div class="rk-guide-chart" data-preset="([\w-]+)" data-series="([^"]*)"/g)];
      expect(charts.map((c) => c[1])).toEqual(['boundary', 'bucket', 'ramp']);
      for (const [, , attribute] of charts) {
        const data = JSON.parse(decode(attribute ?? '')) as Omit<Published, 'at' | 'headers'>;
        await expectSameAsNode({ ...data, at: 0, headerFormats: [], headers: [] });
      }
      // Static SVG: one chart per algorithm, bars drawn.
      expect(html.match(/<figure class="rk-chart"/g)?.length).toBe(7);
      expect(html).toMatch(/<svg [^>]*viewBox="0 0 640 200"/);
      expect(html).toContain('class="rk-bar-denied"');
      // The boundary burst the guide describes: a fixed window lets 2 × limit through around a boundary.
      const boundary = JSON.parse(decode(charts[0]?.[2] ?? '')) as Published;
      const fixed = boundary.series.find((s) => s.algorithm === 'fixed-window');
      const aroundFirstEdge = fixed?.points.filter((p) => p.t >= 9000 && p.t < 11_000 && p.allowed).length;
      expect(aroundFirstEdge).toBe(20);
    },
    BROWSER_TIMEOUT,
  );

  it(
    'finds guides, package pages and API symbols with the local search, offline',
    async () => {
      const page = await browser.newPage();
      const external: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith(server.url) && !request.url().startsWith('data:')) external.push(request.url());
      });
      await page.goto(`${server.url}/`);
      await page.locator('.VPNavBarSearch button').first().click();
      for (const [query, expected] of [
        ['sliding log', 'Choosing an algorithm'],
        ['rateLimitPlugin', '@ratekeeper/fastify'],
        ['Sentinel', 'Redis'],
      ] as const) {
        await page.locator('.VPLocalSearchBox input').fill(query);
        await expect(page.locator('#localsearch-list').getByText(expected).first().waitFor()).resolves.toBeUndefined();
      }
      expect(external).toEqual([]);
      await page.close();
    },
    BROWSER_TIMEOUT,
  );

  it('has no dead links: every internal link and anchor resolves, every repository link names a file', () => {
    const files = htmlFiles(dist);
    const ids = new Map<string, Set<string>>();
    const idsOf = (file: string): Set<string> => {
      let set = ids.get(file);
      if (set === undefined) {
        set = new Set([...readFileSync(file, 'utf8').matchAll(/\sid="([^"]+)"/g)].map((m) => decode(m[1] ?? '')));
        ids.set(file, set);
      }
      return set;
    };
    // A repository link must name a file or folder that is in git, or will be: not a generated one
    // (git-ignored, like docs/api/), which is not on GitHub.
    const inRepository = new Map<string, boolean>();
    const isTracked = (path: string): boolean => {
      let known = inRepository.get(path);
      if (known === undefined) {
        const ignored = spawnSync('git', ['check-ignore', '-q', path], { cwd: ROOT }).status === 0;
        known = existsSync(join(ROOT, path)) && !ignored;
        inRepository.set(path, known);
      }
      return known;
    };
    const dead: string[] = [];
    let checked = 0;
    for (const file of files) {
      const page = pathOf(dist, file);
      const html = readFileSync(file, 'utf8');
      const links = [...html.matchAll(/<(?:a|link)\b[^>]*?\shref="([^"]*)"|<(?:script|img)\b[^>]*?\ssrc="([^"]*)"/g)];
      for (const match of links) {
        const href = decode(match[1] ?? match[2] ?? '');
        if (href.startsWith(`${REPO_URL}/`)) {
          // blob/main/<path>, tree/main/<path>, edit/main/<path>: the path exists in this repository.
          const path = /^\/(?:blob|tree|edit)\/main\/([^#?]+)/.exec(href.slice(REPO_URL.length))?.[1];
          if (path !== undefined && !isTracked(decodeURIComponent(path).replace(/\/$/, ''))) dead.push(`${page}: ${href}`);
          continue;
        }
        if (/^[a-z][a-z\d+.-]*:/i.test(href) || href.startsWith('//')) continue;
        checked++;
        const url = new URL(href, `http://site${page}`);
        const target = fileFor(dist, url.pathname);
        if (target === undefined) {
          dead.push(`${page}: ${href}`);
          continue;
        }
        const anchor = decodeURIComponent(url.hash.slice(1));
        if (anchor !== '' && target.endsWith('.html') && !idsOf(target).has(anchor)) dead.push(`${page}: ${href} (no #${anchor})`);
      }
    }
    expect(files.length).toBeGreaterThan(30);
    expect(checked).toBeGreaterThan(1000);
    expect(dead).toEqual([]);
  });

  it("compiles the API reference's examples (the TSDoc @example of the public exports)", () => {
    const examples = apiExamples();
    expect(examples.length).toBeGreaterThan(40);
    expect(new Set(examples.map((e) => e.module))).toContain('@ratekeeper/core/http');
    // Canaries, compiled in the same run: a wrong option is reported at its line; the reader's own
    // objects (`userId`, `dropEvent`) are not.
    const canary = extractSnippets(
      'canary.md',
      "```ts\nconst d = createLimiter({ limit: 5, window: '1m', burst: 2 }).consumeSync(userId);\nif (!d.allowed) dropEvent();\n```\n",
    ).map((snippet) => ({ snippet, module: '@ratekeeper/core' }));
    const problems = checkApiExamples([...examples, ...canary]);
    const found = problems.filter((p) => !p.location.startsWith('canary.md:'));
    expect(found.map((p) => `${p.location} ${p.message}`).join('\n')).toBe('');
    expect(problems.filter((p) => p.location.startsWith('canary.md:')).map((p) => p.location.replace(/:\d+$/, ''))).toEqual([
      'canary.md:2',
    ]);
  }, 120_000);

  it('shows no code block that the documentation snippet test does not compile (or skip with a reason)', () => {
    const normalise = (code: string): string =>
      code
        .split('\n')
        .map((line) => line.trimEnd())
        .join('\n')
        .trim();
    const known = new Map([...allSnippets(), ...apiExamples().map((e) => e.snippet)].map((s) => [normalise(s.code), s]));
    const unknown: string[] = [];
    let compiled = 0;
    for (const file of htmlFiles(dist)) {
      const html = readFileSync(file, 'utf8');
      for (const m of html.matchAll(/<div class="language-(\w+)[^"]*">.*?<code>(.*?)<\/code><\/pre><\/div>/gs)) {
        const language = (m[1] ?? '').toLowerCase();
        if (!['ts', 'typescript', 'js', 'javascript', 'tsx', 'jsx'].includes(language)) continue;
        const code = normalise(decode((m[2] ?? '').replace(/<[^>]+>/g, '')));
        const snippet = known.get(code);
        if (snippet === undefined) unknown.push(`${pathOf(dist, file)}: ${code.slice(0, 80)}`);
        else if (snippet.skip === undefined) compiled++;
      }
    }
    expect(unknown).toEqual([]);
    expect(compiled).toBeGreaterThan(50);
  });
});
