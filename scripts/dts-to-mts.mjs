// tsup names ESM declarations `.d.ts`; publish them as `.d.mts` so each build has matching types
// (`.mjs` + `.d.mts`, `.cjs` + `.d.cts`) whatever the consumer's module resolution.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = join(process.cwd(), 'dist');
for (const file of readdirSync(dist)) {
  if (!file.endsWith('.d.ts')) continue;
  const from = join(dist, file);
  // Every relative specifier: `from './x.js'`, a bare `import './x.js'` and `import('./x.js')`.
  const text = readFileSync(from, 'utf8').replace(/((?:from|import)\s*\(?\s*['"]\.\/[^'"]+?)(\.js)?(['"])/g, '$1.mjs$3');
  writeFileSync(from, text);
  renameSync(from, join(dist, file.replace(/\.d\.ts$/, '.d.mts')));
}
