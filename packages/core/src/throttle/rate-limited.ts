import { ConfigError } from '../errors/config-error';
import { createCaller, type ThrottleOptions } from './throttle';

/**
 * Options of {@link rateLimited}: the same as `throttle`'s. Annotate a `key`/`cost` function's parameters
 * (and `this`, if it reads the instance); the decorated method must accept those arguments first.
 */
export type RateLimitedOptions<This, Args extends unknown[], R> = ThrottleOptions<This, Args, R>;

/** The standard (TypeScript 5 / TC39) method decorator returned by {@link rateLimited}. */
export type RateLimitedDecorator<KeyThis, KeyArgs extends unknown[], Value> = <
  This extends KeyThis,
  Args extends [...KeyArgs, ...unknown[]],
  R extends Value,
>(
  method: (this: This, ...args: Args) => Promise<R>,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Promise<R>>,
) => (this: This, ...args: Args) => Promise<R>;

/**
 * Method decorator (TypeScript 5 standard decorators, not `experimentalDecorators`): each call waits
 * for its turn, exactly like a `throttle`d function. The limiter is created once, when the decorator
 * is evaluated, so all instances share one budget; use `key` (it may read `this`) to split it, e.g.
 * per instance or per argument. The method must return a promise (waiting makes every call async).
 * @default key: the method's name
 * @example
 * class GitHub {
 *   @rateLimited({ limit: 10, window: '1s' })
 *   async repo(name: string): Promise<Repo> { return fetchRepo(name); }
 * }
 */
export function rateLimited<KeyThis = unknown, KeyArgs extends unknown[] = [], Value = unknown>(
  options: RateLimitedOptions<KeyThis, KeyArgs, Value>,
): RateLimitedDecorator<KeyThis, KeyArgs, Value> {
  let caller: ReturnType<typeof createCaller<KeyThis, KeyArgs, Value>> | undefined;
  // Validate now, so a bad option fails where the class is defined; the key default needs the method name.
  const hasKey = typeof options === 'object' && options !== null && options.key !== undefined;
  if (hasKey) caller = createCaller(options, '', 'rateLimited(options)');
  return function decorate<This extends KeyThis, Args extends [...KeyArgs, ...unknown[]], R extends Value>(
    method: (this: This, ...args: Args) => Promise<R>,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Promise<R>>,
  ): (this: This, ...args: Args) => Promise<R> {
    if (context?.kind !== 'method') throw new ConfigError('@rateLimited', 'applied to a class method', context?.kind);
    if (typeof method !== 'function') throw new ConfigError('@rateLimited', 'applied to a class method', method);
    // One decorator expression decorates one method; reusing the returned decorator shares its limiter.
    caller ??= createCaller(options, String(context.name), 'rateLimited(options)');
    const run = caller;
    const fn = method as unknown as (this: KeyThis, ...args: KeyArgs) => Promise<Value>;
    const replacement = function (this: This, ...args: Args): Promise<R> {
      return run.call(this, fn, args as unknown as KeyArgs).then((r) => r.value as R);
    };
    // Stack traces and logs show the method's own name, not "replacement".
    Object.defineProperty(replacement, 'name', { value: typeof context.name === 'string' ? context.name : String(context.name) });
    return replacement;
  };
}
