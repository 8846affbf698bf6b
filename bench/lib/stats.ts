/** Middle value of `values` (mean of the two middle ones for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = finite.length;
  if (n === 0) return Number.NaN;
  const mid = n >> 1;
  return n % 2 === 1 ? (finite[mid] as number) : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}

/** Largest over smallest of `values`: how far single rounds of one cell moved (1.00 = not at all). */
export function spread(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v) && v > 0);
  if (finite.length === 0) return Number.NaN;
  return Math.max(...finite) / Math.min(...finite);
}

/** Integer with thousands separators (`1,234`), or `-` when not a number. */
export function fmtInt(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '-';
}

/** Fixed decimals, or `-` when not a number. */
export function fmtFixed(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** Decisions per second from ns per decision, in millions (`5.9 M/s`). */
export function fmtRate(nsPerOp: number): string {
  return Number.isFinite(nsPerOp) && nsPerOp > 0 ? `${(1e3 / nsPerOp).toFixed(2)} M/s` : '-';
}
