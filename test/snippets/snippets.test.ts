import { allSnippets, checkSnippets, extractSnippets, type SnippetProblem } from './snippets';

// Every TypeScript / JavaScript block of README.md, docs/*.md and packages/*/README.md compiles
// under the repository's strict settings (see snippets.ts for the directives).

// Blocks that must fail, compiled in the same program as the documentation's: proof that the check
// sees type errors (in TypeScript and in CommonJS JavaScript) and reports their markdown line.
const CANARY = `# canary

<!-- snippet: prelude=express -->

\`\`\`ts
import { rateLimit } from '@ratekeeper/express';

const plans = { free: [{ limit: 5, window: '1m' }] };
app.use(rateLimit({ rules: () => plans.free }));
\`\`\`

\`\`\`js
const { rateLimit } = require('@ratekeeper/express');

rateLimit({ limit: 5, window: '1m', burst: 10 });
\`\`\`

\`\`\`ts
import { createLimiter } from '@ratekeeper/core';

await createLimiter({ limit: 5, window: '1m' }).consume('k');
\`\`\`
`;

describe('documentation snippets', () => {
  const snippets = allSnippets();
  const canaries = extractSnippets('canary.md', CANARY);
  let problems: SnippetProblem[] = [];

  beforeAll(() => {
    problems = checkSnippets([...snippets, ...canaries]);
  });

  it('finds the blocks of every documentation file', () => {
    expect(snippets.length).toBeGreaterThan(30);
    const files = new Set(snippets.map((s) => s.markdown));
    // The documentation site (docs/) shows these blocks and no others: test/docs/site.test.ts checks it.
    for (const file of ['README.md', 'docs/http.md', 'packages/express/README.md', 'docs/algorithms.md', 'docs/simulator.md']) {
      expect(files).toContain(file);
    }
    expect(snippets.some((s) => s.language === 'js')).toBe(true);
  });

  it('compiles every block under strict, with zero diagnostics', () => {
    const found = problems.filter((p) => !p.location.startsWith('canary.md:'));
    expect(found.map((p) => `${p.location} ${p.message}`).join('\n')).toBe('');
  });

  it('reports type errors and unsaid top-level await at their markdown line', () => {
    const found = problems.filter((p) => p.location.startsWith('canary.md:'));
    // The widened '1m' (a string, not a Duration), burst on the default window algorithm, and `await` without "ESM".
    expect(found.map((p) => p.location.replace(/:\d+$/, ''))).toEqual(['canary.md:9', 'canary.md:15', 'canary.md:21']);
    expect(found[0]?.message).toMatch(/^TS\d+: .*Duration|^TS\d+: .*string/s);
    expect(found[1]?.message).toMatch(/^TS\d+: /);
    expect(found[2]?.message).toMatch(/ESM/);
  });

  it('requires a reason to skip, a known prelude, and no directive on a block that is never compiled', () => {
    for (const s of snippets) if (s.skip !== undefined) expect(s.skip.trim()).not.toBe('');
    expect(() => extractSnippets('x.md', '<!-- snippet: skip -->\n```ts\nx\n```\n')).toThrow('needs a reason');
    expect(() => extractSnippets('x.md', '<!-- snippet: prelude=nope -->\n```ts\nx\n```\n')).toThrow('no prelude');
    expect(() => extractSnippets('x.md', '<!-- snippet: skip output -->\n```sh\nx\n```\n')).toThrow('never compiled');
    expect(() => extractSnippets('x.md', '```ts\nx\n')).toThrow('unclosed');
  });
});
