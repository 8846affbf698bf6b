// The documentation site (VitePress): the guides of docs/ where they are, a page per package
// (its README), the simulator, and the API reference TypeDoc writes to docs/api/ before each build
// (`pnpm docs:build`, `pnpm docs:dev`).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitepress';
import { type PACKAGE_PAGES, REPO_URL, ROOT, repositoryLinks } from './links';

const TITLES: Readonly<Record<(typeof PACKAGE_PAGES)[number], string>> = {
  express: 'Express',
  fastify: 'Fastify',
  koa: 'Koa',
  web: 'Web / Fetch (Next.js, Bun, Deno, Workers)',
  hono: 'Hono',
  nestjs: 'NestJS',
  core: '@ratekeeper/core',
  otel: 'OpenTelemetry',
  prometheus: 'Prometheus',
};
const ADAPTERS = ['express', 'fastify', 'koa', 'web', 'hono', 'nestjs'] as const;

const API_MODULES = [
  'core',
  'core/http',
  'core/redis',
  'core/testing',
  'express',
  'express/compat',
  'fastify',
  'fastify/compat',
  'koa',
  'koa/compat',
  'web',
  'hono',
  'nestjs',
  'otel',
  'prometheus',
];

const guide = (text: string, page: string) => ({ text, link: `/${page}` });

export default defineConfig({
  title: 'ratekeeper',
  description: 'Rate limiting for Node.js and the Fetch-API runtimes: five algorithms, memory and Redis stores, every framework.',
  cleanUrls: true,
  lastUpdated: false,
  vite: {
    resolve: {
      alias: [
        // The simulator bundles core from its sources: the algorithms the library runs, not a copy.
        { find: /^@ratekeeper\/core$/, replacement: join(ROOT, 'packages/core/src/index.ts') },
        { find: /^@ratekeeper\/core\/http$/, replacement: join(ROOT, 'packages/core/src/http.ts') },
      ],
    },
  },
  // Generated pages (the API reference) and pages that only include a README have no source to edit here.
  transformPageData(page) {
    if (/^(api|packages)\/|^overview\.md$/.test(page.relativePath)) page.frontmatter.editLink = false;
  },
  markdown: {
    config: (md) => md.use(repositoryLinks),
  },
  themeConfig: {
    search: { provider: 'local' },
    nav: [
      { text: 'Guide', link: '/overview' },
      { text: 'Simulator', link: '/simulator' },
      { text: 'Packages', link: '/packages/express' },
      { text: 'API', link: '/api/' },
    ],
    sidebar: [
      {
        text: 'Introduction',
        items: [guide('Overview', 'overview'), guide('Choosing an algorithm', 'algorithms'), guide('Simulator', 'simulator')],
      },
      {
        text: 'Guides',
        items: [
          guide('HTTP options', 'http'),
          guide('Stores', 'stores'),
          guide('Memory store', 'memory-store'),
          guide('Redis', 'redis'),
          guide('Runtimes', 'runtimes'),
          guide('Concurrency', 'concurrency'),
          guide('Adaptive limits', 'adaptive'),
          guide('Outgoing calls', 'client-throttle'),
          guide('Observability', 'observability'),
          guide('Migrating', 'migrating'),
          guide('From @nestjs/throttler', 'nestjs'),
        ],
      },
      { text: 'Adapters', items: ADAPTERS.map((name) => guide(TITLES[name], `packages/${name}`)) },
      {
        text: 'Core and metrics',
        items: (['core', 'otel', 'prometheus'] as const).map((name) => guide(TITLES[name], `packages/${name}`)),
      },
      {
        text: 'API reference',
        collapsed: true,
        items: [
          guide('All modules', 'api/'),
          ...API_MODULES.filter((m) => !existsSync(join(ROOT, 'docs/api')) || existsSync(join(ROOT, `docs/api/${m}.md`))).map((m) =>
            guide(`@ratekeeper/${m}`, `api/${m}`),
          ),
        ],
      },
    ],
    socialLinks: [{ icon: 'github', link: REPO_URL }],
    editLink: { pattern: `${REPO_URL}/edit/main/docs/:path` },
    outline: { level: [2, 3] },
  },
});
