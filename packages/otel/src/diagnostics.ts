/** The part of `node:diagnostics_channel` this package uses. */
export interface Diagnostics {
  subscribe(name: string, onMessage: (message: unknown, name: string | symbol) => void): void;
  unsubscribe(name: string, onMessage: (message: unknown, name: string | symbol) => void): boolean;
}

/**
 * `node:diagnostics_channel`, found the way `@ratekeeper/core` finds it (`process.getBuiltinModule`,
 * so a bundle for the edge contains no `node:` import). Where it is absent core publishes nothing,
 * so there is nothing to subscribe to either.
 */
export function diagnostics(): Diagnostics | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const dc = proc?.getBuiltinModule?.('node:diagnostics_channel') as Partial<Diagnostics> | undefined;
    return typeof dc?.subscribe === 'function' && typeof dc.unsubscribe === 'function' ? (dc as Diagnostics) : undefined;
  } catch {
    return undefined;
  }
}
