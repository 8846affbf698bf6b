/** Column alignment of {@link markdownTable}: left or right (numbers). */
export type Align = 'l' | 'r';

/** A GitHub-flavoured markdown table; `align` defaults to left for the first column, right for the rest. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const al = header.map((_, i) => align?.[i] ?? (i === 0 ? 'l' : 'r'));
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const rule = al.map((a) => (a === 'r' ? '---:' : '---'));
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}
