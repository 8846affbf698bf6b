/**
 * `count` distinct IPv4-like keys (`10.0.0.1`, `10.0.0.2`, …), built before measuring so their
 * memory is not charged to the store. They go through JSON once so every key is a flat
 * sequential string: a concatenated (cons) string would be flattened on its first Map lookup,
 * allocating inside the measured run.
 */
export function ipKeys(count: number): string[] {
  const keys = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const n = i + 1;
    keys[i] = `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  return JSON.parse(JSON.stringify(keys)) as string[];
}
