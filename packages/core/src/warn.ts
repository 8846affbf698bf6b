/** Node's `process`, where there is one: read through `globalThis` so edge bundlers see no Node API. */
interface WarningProcess {
  emitWarning?(message: string, options: { code: string }): void;
}

/**
 * A one-time warning: a process warning on Node, Bun and Deno (`--trace-warnings`, `--no-warnings`
 * apply), `console.warn` where no `process` exists (workerd, Next.js edge).
 */
export function emitWarning(message: string, code: string): void {
  const proc = (globalThis as { process?: WarningProcess }).process;
  if (typeof proc?.emitWarning === 'function') proc.emitWarning(message, { code });
  else console.warn(`(${code}) ${message}`);
}
