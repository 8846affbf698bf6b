// Compiles every ```ts / ```typescript / ```js block of the documentation (README.md, docs/*.md,
// packages/*/README.md) under the repository's strict settings, as `snippets.test.ts` does in
// `pnpm test`. Each block becomes its own module in `test/snippets/.generated/run-*/` (git-ignored,
// removed after the check), and one TypeScript program checks them all. Errors are reported at
// their line in the markdown.
//
// A block may be preceded (blank lines allowed) by one directive:
//   <!-- snippet: prelude=express -->       prepend test/snippets/preludes/express.ts (names the
//                                           block uses but does not declare: `app`, `login`, ...);
//                                           several: prelude=express,core
//   <!-- snippet: skip <reason> -->         not compiled (pseudo-code, output); a reason is required
// Blocks in other languages (sh, bash, none, ...) are never compiled. A block that shows a type error
// on purpose marks it with `// @ts-expect-error`. A block with top-level `await` must say it is ESM
// (a comment containing "ESM"): in CommonJS, top-level `await` is a syntax error.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const ROOT = join(__dirname, '..', '..');
const HERE = join(ROOT, 'test', 'snippets');
const PRELUDES = join(HERE, 'preludes');
export const GENERATED = join(HERE, '.generated');

const LANGUAGES: Readonly<Record<string, 'ts' | 'js'>> = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js' };

export interface Snippet {
  /** The markdown file, relative to the repository root. */
  readonly markdown: string;
  /** 1-based line of the block's first code line in the markdown file. */
  readonly line: number;
  readonly language: 'ts' | 'js';
  readonly code: string;
  readonly preludes: readonly string[];
  /** Set when the block is marked `<!-- snippet: skip reason -->`. */
  readonly skip?: string;
}

export interface SnippetProblem {
  /** `file:line:column` in the markdown file (or in a prelude). */
  readonly location: string;
  readonly message: string;
}

/** The documentation files whose blocks are compiled, relative to the repository root. */
export function markdownFiles(): string[] {
  const files = ['README.md'];
  for (const name of readdirSync(join(ROOT, 'docs')).sort()) if (name.endsWith('.md')) files.push(`docs/${name}`);
  for (const name of readdirSync(join(ROOT, 'packages')).sort()) {
    if (existsSync(join(ROOT, 'packages', name, 'README.md'))) files.push(`packages/${name}/README.md`);
  }
  return files;
}

const FENCE = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/;
const DIRECTIVE = /^<!--\s*snippet:\s*(.*?)\s*-->$/;

/** The compiled blocks of one markdown file; throws on a malformed directive or an unclosed fence. */
export function extractSnippets(markdown: string, text: string): Snippet[] {
  const lines = text.split(/\r?\n/);
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] ?? '');
    if (open === null) continue;
    const [, , fence = '', info = ''] = open;
    let end = i + 1;
    while (end < lines.length && !isClosingFence(lines[end] ?? '', fence)) end++;
    if (end === lines.length) throw new Error(`${markdown}:${i + 1}: unclosed code fence`);
    const language = LANGUAGES[info.toLowerCase()];
    const directive = directiveBefore(lines, i, markdown);
    if (language === undefined) {
      if (directive !== undefined)
        throw new Error(`${markdown}:${i + 1}: a snippet directive on a \`${info}\` block, which is never compiled`);
    } else {
      const code = lines.slice(i + 1, end).join('\n');
      snippets.push({ markdown, line: i + 2, language, code, ...parseDirective(directive, `${markdown}:${i}`) });
    }
    i = end;
  }
  return snippets;
}

function isClosingFence(line: string, fence: string): boolean {
  const trimmed = line.trim();
  return trimmed.length >= fence.length && trimmed === (fence[0] ?? '').repeat(trimmed.length) && line.search(/\S/) <= 3;
}

function directiveBefore(lines: readonly string[], fenceIndex: number, markdown: string): string | undefined {
  let j = fenceIndex - 1;
  while (j >= 0 && (lines[j] ?? '').trim() === '') j--;
  const line = (lines[j] ?? '').trim();
  const match = DIRECTIVE.exec(line);
  if (match === null) {
    if (/^<!--\s*snippet/.test(line)) throw new Error(`${markdown}:${j + 1}: malformed snippet directive ${line}`);
    return undefined;
  }
  return match[1] ?? '';
}

function parseDirective(directive: string | undefined, where: string): { preludes: string[]; skip?: string } {
  if (directive === undefined) return { preludes: [] };
  const skip = /^skip(?:\s+(.*))?$/.exec(directive);
  if (skip !== null) {
    if ((skip[1] ?? '').trim() === '') throw new Error(`${where}: \`snippet: skip\` needs a reason`);
    return { preludes: [], skip: skip[1] ?? '' };
  }
  const prelude = /^prelude=([\w-]+(?:,[\w-]+)*)$/.exec(directive);
  if (prelude === null) throw new Error(`${where}: unknown snippet directive "${directive}" (prelude=<name>[,<name>] or skip <reason>)`);
  const preludes = (prelude[1] ?? '').split(',');
  for (const name of preludes) {
    if (!existsSync(join(PRELUDES, `${name}.ts`))) throw new Error(`${where}: no prelude test/snippets/preludes/${name}.ts`);
  }
  return { preludes };
}

/** Every block of every documentation file, skipped ones included. */
export function allSnippets(): Snippet[] {
  return markdownFiles().flatMap((file) => extractSnippets(file, readFileSync(join(ROOT, file), 'utf8')));
}

interface Generated {
  readonly snippet: Snippet;
  readonly file: string;
  /** Lines before the snippet's first line in the generated file: the preludes, each with its line count. */
  readonly preludes: readonly { readonly name: string; readonly start: number; readonly lines: number }[];
  readonly offset: number;
}

/** Writes each block as a module in `dir`. */
function generate(snippets: readonly Snippet[], dir: string): Generated[] {
  return snippets.map((snippet) => {
    let text = '';
    let offset = 0;
    const preludes = snippet.preludes.map((name) => {
      const body = readFileSync(join(PRELUDES, `${name}.ts`), 'utf8').replace(/\n*$/, '\n');
      const entry = { name, start: offset, lines: body.split('\n').length - 1 };
      text += body;
      offset += entry.lines;
      return entry;
    });
    // `export {}` makes every block a module of its own (names do not clash across blocks).
    text += `${snippet.code}\n${snippet.language === 'ts' ? 'export {};\n' : ''}`;
    const base = `${snippet.markdown.replace(/[/\\]/g, '__').replace(/\.md$/, '')}.L${snippet.line}`;
    const file = join(dir, `${base}.${snippet.language === 'ts' ? 'ts' : usesRequire(snippet.code) ? 'cjs' : 'mjs'}`);
    writeFileSync(file, text);
    return { snippet, file, preludes, offset };
  });
}

const usesRequire = (code: string): boolean => /\brequire\(/.test(code);

function compilerOptions(): ts.CompilerOptions {
  const configFile = join(ROOT, 'tsconfig.json');
  const read = ts.readConfigFile(configFile, ts.sys.readFile);
  if (read.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, configFile);
  return {
    ...parsed.options,
    noEmit: true,
    allowJs: true,
    checkJs: true,
    // A reader's program: Node's types, not Jest's globals.
    types: ['node'],
  };
}

/** Compiles the blocks that are not skipped in one program; returns every problem found. */
export function checkSnippets(snippets: readonly Snippet[]): SnippetProblem[] {
  // A directory per run: several test runs may share the working tree.
  mkdirSync(GENERATED, { recursive: true });
  const dir = mkdtempSync(join(GENERATED, 'run-'));
  try {
    return compile(
      snippets,
      generate(
        snippets.filter((s) => s.skip === undefined),
        dir,
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// NestJS's decorators are TypeScript's legacy ones: blocks importing @nestjs/* compile as a Nest app
// does (`experimentalDecorators`, `emitDecoratorMetadata`), in a program of their own.
const usesNest = (g: Generated): boolean => /from ['"]@nestjs\//.test(g.snippet.code);

function compile(snippets: readonly Snippet[], generated: readonly Generated[]): SnippetProblem[] {
  const nest = generated.filter(usesNest);
  const rest = generated.filter((g) => !usesNest(g));
  const nestOptions = { ...compilerOptions(), experimentalDecorators: true, emitDecoratorMetadata: true };
  return [...compileGroup(snippets, rest, compilerOptions()), ...(nest.length > 0 ? compileGroup([], nest, nestOptions) : [])];
}

function compileGroup(
  snippets: readonly Snippet[],
  generated: readonly Generated[],
  options: ts.CompilerOptions,
  /** API examples: fragments, which may await at the top level without saying so. */
  fragments = false,
): SnippetProblem[] {
  const ambient = readdirSync(PRELUDES)
    .filter((name) => name.endsWith('.d.ts'))
    .map((name) => join(PRELUDES, name));
  const program = ts.createProgram({ rootNames: [...generated.map((g) => g.file), ...ambient], options });
  const byFile = new Map(generated.map((g) => [ts.sys.resolvePath(g.file), g]));
  const problems: SnippetProblem[] = [];
  const report = (diagnostic: ts.Diagnostic): void => {
    const message = `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    const file = diagnostic.file;
    if (file === undefined || diagnostic.start === undefined) {
      problems.push({ location: '(program)', message });
      return;
    }
    const { line, character } = file.getLineAndCharacterOfPosition(diagnostic.start);
    problems.push({ location: locate(byFile.get(ts.sys.resolvePath(file.fileName)), file.fileName, line, character), message });
  };
  program.getOptionsDiagnostics().forEach(report);
  program.getGlobalDiagnostics().forEach(report);
  for (const g of generated) {
    const source = program.getSourceFile(g.file);
    if (source === undefined) throw new Error(`${g.file} is not in the program`);
    program.getSyntacticDiagnostics(source).forEach(report);
    program.getSemanticDiagnostics(source).forEach(report);
    const awaited = fragments ? undefined : unsaidTopLevelAwait(g.snippet, source);
    if (awaited !== undefined) problems.push({ location: locate(g, g.file, awaited.line, awaited.character), message: TOP_LEVEL_AWAIT });
  }
  // Skipped blocks are not compiled, but they must not show top-level `await` without saying ESM either.
  for (const snippet of snippets) {
    if (snippet.skip === undefined) continue;
    const source = ts.createSourceFile('skipped.ts', snippet.code, ts.ScriptTarget.Latest, true);
    const awaited = unsaidTopLevelAwait(snippet, source);
    if (awaited !== undefined) {
      problems.push({ location: `${snippet.markdown}:${snippet.line + awaited.line}:${awaited.character + 1}`, message: TOP_LEVEL_AWAIT });
    }
  }
  for (const file of ambient) {
    const source = program.getSourceFile(file);
    if (source !== undefined) program.getSemanticDiagnostics(source).forEach(report);
  }
  return problems;
}

/** `file:line:column` of a 0-based position in a generated file: in the markdown, or in a prelude. */
function locate(g: Generated | undefined, fileName: string, line: number, character: number): string {
  if (g === undefined) return `${relative(ROOT, fileName)}:${line + 1}:${character + 1}`;
  if (line >= g.offset) return `${g.snippet.markdown}:${g.snippet.line + line - g.offset}:${character + 1}`;
  const prelude = g.preludes.find((p) => line >= p.start && line < p.start + p.lines);
  const where = prelude === undefined ? relative(ROOT, fileName) : `test/snippets/preludes/${prelude.name}.ts`;
  return `${where}:${line - (prelude?.start ?? 0) + 1}:${character + 1} (prelude of ${g.snippet.markdown}:${g.snippet.line})`;
}

const TOP_LEVEL_AWAIT = 'top-level await: say that this block is ESM (a comment containing "ESM"); CommonJS cannot run it';

/** The position of the first top-level `await` of a block that does not say it is ESM. */
function unsaidTopLevelAwait(snippet: Snippet, source: ts.SourceFile): ts.LineAndCharacter | undefined {
  const awaited = topLevelAwait(source);
  if (awaited === undefined || /(\/\/|\/\*).*\bESM\b/.test(snippet.code)) return undefined;
  return source.getLineAndCharacterOfPosition(awaited.getStart(source));
}

/** The first `await` (or `for await`) outside any function, if there is one. */
function topLevelAwait(source: ts.SourceFile): ts.Node | undefined {
  const visit = (node: ts.Node): ts.Node | undefined => {
    if (ts.isFunctionLike(node) || ts.isClassStaticBlockDeclaration(node)) return undefined;
    if (ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier !== undefined)) return node;
    return ts.forEachChild(node, visit);
  };
  return ts.forEachChild(source, visit);
}

/** A TSDoc `@example` as the API reference shows it, with the module of its page. */
export interface ApiExample {
  readonly snippet: Snippet;
  /** The page's module, e.g. `@ratekeeper/core/http`: the names the example uses come from it first. */
  readonly module: string;
}

/** Where a name an example uses is looked for after its own module. */
const FALLBACK_MODULES = ['@ratekeeper/core', '@ratekeeper/core/http', '@ratekeeper/core/testing', '@ratekeeper/express'];

/**
 * Diagnostics of a name used but not declared: "Cannot find name 'x'" (with a suggestion, or a
 * hint at a runtime's or test runner's types) and "No value exists in scope for the shorthand
 * property 'x'".
 */
const UNDECLARED = new Set([2304, 2552, 2580, 2582, 2591, 2592, 2593, 2867, 2868, 18004]);
const UNDECLARED_NAME = /(?:Cannot find name|shorthand property) '([^']+)'/;

/**
 * Compiles the `@example` blocks of the API reference (the TSDoc of the public exports, as TypeDoc
 * writes it to docs/api/). They are fragments: they use the API without importing it, and name the
 * reader's own objects (`req`, `userId`, `callModel`). Each compiles as a module after a prelude that
 * imports every name it uses but does not declare from its page's module (else from core's entry
 * points or Express's adapter) and declares the rest `any`: the API an example calls, and the
 * options it passes, are type-checked under the repository's strict settings, except
 * `noImplicitAny` (a fragment's callbacks have no context). NestJS's examples compile with Nest's
 * legacy decorators.
 */
export function checkApiExamples(examples: readonly ApiExample[]): SnippetProblem[] {
  mkdirSync(GENERATED, { recursive: true });
  const dir = mkdtempSync(join(GENERATED, 'api-'));
  try {
    const base: ts.CompilerOptions = { ...compilerOptions(), noImplicitAny: false };
    const nest: ts.CompilerOptions = { ...base, experimentalDecorators: true, emitDecoratorMetadata: true };
    const isNest = (e: ApiExample): boolean => e.module === '@ratekeeper/nestjs';
    const file = (i: number): string => join(dir, `${e2name(examples[i])}.${i}.ts`);
    // First pass: each example alone, to learn the names it uses without declaring them, and what
    // each module exports.
    examples.forEach((e, i) => {
      writeFileSync(file(i), `${e.snippet.code}\nexport {};\n`);
    });
    const modules = [...new Set([...examples.map((e) => e.module), ...FALLBACK_MODULES])];
    const entries = modules.map((m) => ts.resolveModuleName(m, join(ROOT, 'index.ts'), base, ts.sys).resolvedModule?.resolvedFileName);
    // With Nest's decorators, which parse where the standard ones do (not the other way round).
    const first = ts.createProgram({
      rootNames: [...examples.map((_, i) => file(i)), ...entries.filter((f): f is string => f !== undefined)],
      options: nest,
    });
    const checker = first.getTypeChecker();
    const exports = new Map(
      modules.map((m, i) => {
        const entry = entries[i];
        const source = entry === undefined ? undefined : first.getSourceFile(entry);
        const symbol = source === undefined ? undefined : checker.getSymbolAtLocation(source);
        // name -> whether it is a value (else a type, imported with `type`: verbatimModuleSyntax).
        const names = new Map<string, boolean>();
        for (const x of symbol === undefined ? [] : checker.getExportsOfModule(symbol)) {
          const target = x.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(x) : x;
          names.set(x.name, (target.flags & ts.SymbolFlags.Value) !== 0);
        }
        return [m, names] as const;
      }),
    );
    const generated = examples.map((e, i): Generated => {
      const source = first.getSourceFile(file(i));
      const names = new Set<string>();
      for (const d of source === undefined ? [] : first.getSemanticDiagnostics(source)) {
        const name = UNDECLARED.has(d.code) ? UNDECLARED_NAME.exec(ts.flattenDiagnosticMessageText(d.messageText, '\n'))?.[1] : undefined;
        if (name !== undefined) names.add(name);
      }
      const imports = new Map<string, string[]>();
      const declared: string[] = [];
      for (const name of [...names].sort()) {
        const from = [e.module, ...FALLBACK_MODULES].find((m) => exports.get(m)?.has(name));
        if (from === undefined) declared.push(`declare const ${name}: any;`, `type ${name} = any;`);
        else imports.set(from, [...(imports.get(from) ?? []), exports.get(from)?.get(name) ? name : `type ${name}`]);
      }
      const prelude = [...[...imports].map(([m, list]) => `import { ${list.join(', ')} } from '${m}';`), ...declared];
      writeFileSync(file(i), `${prelude.map((line) => `${line}\n`).join('')}${e.snippet.code}\nexport {};\n`);
      return { snippet: e.snippet, file: file(i), preludes: [{ name: 'api', start: 0, lines: prelude.length }], offset: prelude.length };
    });
    const of = (nestOnes: boolean): Generated[] => generated.filter((_, i) => isNest(examples[i] as ApiExample) === nestOnes);
    const nestOnes = of(true);
    return [...compileGroup([], of(false), base, true), ...(nestOnes.length > 0 ? compileGroup([], nestOnes, nest, true) : [])];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const e2name = (e: ApiExample | undefined): string => (e?.module ?? 'x').replace(/[^\w]+/g, '_');
