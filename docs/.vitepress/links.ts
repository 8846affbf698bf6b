// The guides link to the repository as they are read on GitHub: `../packages/nestjs/README.md`,
// `../examples/observability`, `grafana-dashboard.json`. On the site, a package's README is its
// page (`/packages/nestjs`), the root README is `/overview`, and anything else outside the guides
// opens on GitHub. A page that includes a README (`<!--@include: ...-->`) gets that README's
// links resolved from the README's folder. Links that resolve to nothing are left as written, so
// VitePress's dead-link check (and the site test's) reports them.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MarkdownRenderer } from 'vitepress';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOCS = join(ROOT, 'docs');
export const REPO_URL = 'https://github.com/ratekeeper/ratekeeper';

/** Packages with a page of their own (`docs/packages/<name>.md` includes the README). */
export const PACKAGE_PAGES = ['express', 'fastify', 'koa', 'web', 'hono', 'nestjs', 'core', 'otel', 'prometheus'] as const;

/** Repository files that are pages of the site, by their path from the repository root. */
const PAGES: ReadonlyMap<string, string> = new Map([
  ['README.md', '/overview.md'],
  ...PACKAGE_PAGES.map((name) => [`packages/${name}/README.md`, `/packages/${name}.md`] as const),
]);

const INCLUDE = /<!--\s*@include:\s*(.*?)\s*-->/g;

/**
 * The folders a page's relative links may be written from: those of the files it includes (a page
 * that includes a README has no links of its own), then its own.
 */
function linkBases(page: string): string[] {
  const bases: string[] = [];
  if (existsSync(page)) {
    for (const match of readFileSync(page, 'utf8').matchAll(INCLUDE)) {
      const target = (match[1] ?? '').replace(/(#[\w-]+)?(\{\d*,\d*\})?$/, '');
      bases.push(dirname(target.startsWith('@') ? join(DOCS, target.slice(1)) : join(dirname(page), target)));
    }
  }
  bases.push(dirname(page));
  return bases;
}

const posix = (path: string): string => path.split(sep).join('/');

/** The site or GitHub address of a relative link written in `page`, or undefined to leave it as is. */
export function rewriteLink(href: string, page: string): string | undefined {
  if (/^[a-z][a-z\d+.-]*:/i.test(href) || href.startsWith('/') || href.startsWith('#')) return undefined;
  const hashAt = href.indexOf('#');
  const path = decodeURI(hashAt === -1 ? href : href.slice(0, hashAt));
  const hash = hashAt === -1 ? '' : href.slice(hashAt);
  const bases = linkBases(page);
  for (const base of bases) {
    const target = resolve(base, path);
    if (!existsSync(target) || !target.startsWith(ROOT + sep)) continue;
    const fromRoot = posix(relative(ROOT, target));
    const sitePage = PAGES.get(fromRoot);
    if (sitePage !== undefined) return `${sitePage}${hash}`;
    if (fromRoot.startsWith('docs/') && fromRoot.endsWith('.md')) {
      // A guide linking a guide from its own folder: VitePress resolves it as written.
      return base === dirname(page) ? undefined : `/${fromRoot.slice('docs/'.length)}${hash}`;
    }
    return `${REPO_URL}/${statSync(target).isDirectory() ? 'tree' : 'blob'}/main/${fromRoot}${hash}`;
  }
  return undefined;
}

/** markdown-it plugin: applies `rewriteLink` to every link of a page. */
export function repositoryLinks(md: MarkdownRenderer): void {
  md.core.ruler.push('rk-repository-links', (state) => {
    const page = (state.env as { path?: string }).path;
    if (page === undefined) return;
    for (const token of state.tokens) {
      for (const child of token.children ?? []) {
        if (child.type !== 'link_open') continue;
        const href = child.attrGet('href');
        const rewritten = href === null ? undefined : rewriteLink(href, page);
        if (rewritten !== undefined) child.attrSet('href', rewritten);
      }
    }
  });
}
