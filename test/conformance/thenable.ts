/** How a {@link Thenable} settled. */
type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly value: unknown };

/**
 * A promise-like that is not a native `Promise`, as Bluebird's promises or a query builder are:
 * it settles on a later turn of the event loop, calls `then(onFulfilled, onRejected)` back
 * asynchronously, and chains (its `then` returns another `Thenable`, never a native promise).
 */
export class Thenable<T> implements PromiseLike<T> {
  #outcome: Outcome | undefined;
  readonly #waiting: Array<() => void> = [];

  private constructor() {}

  /** Fulfils with `value` on a later turn. */
  static resolve<T>(value: T): Thenable<T> {
    const t = new Thenable<T>();
    setImmediate(() => t.#settle({ ok: true, value }));
    return t;
  }

  /** Rejects with `reason` on a later turn. */
  static reject<T = never>(reason: unknown): Thenable<T> {
    const t = new Thenable<T>();
    setImmediate(() => t.#settle({ ok: false, value: reason }));
    return t;
  }

  // biome-ignore lint/suspicious/noThenProperty: a thenable is the point: the pipeline must adopt one.
  then<A = T, B = never>(
    onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Thenable<A | B> {
    const next = new Thenable<A | B>();
    const run = (): void => {
      const outcome = this.#outcome as Outcome;
      const callback = outcome.ok ? onFulfilled : onRejected;
      if (typeof callback !== 'function') {
        next.#settle(outcome);
        return;
      }
      let out: unknown;
      try {
        out = (callback as (value: unknown) => unknown)(outcome.value);
      } catch (error) {
        next.#settle({ ok: false, value: error });
        return;
      }
      // Follows a thenable returned by the callback, as a promise would.
      if (typeof (out as PromiseLike<unknown> | null | undefined)?.then === 'function')
        (out as PromiseLike<unknown>).then(
          (value) => next.#settle({ ok: true, value }),
          (value: unknown) => next.#settle({ ok: false, value }),
        );
      else next.#settle({ ok: true, value: out });
    };
    // Callbacks never run in the caller's turn, as with a promise.
    if (this.#outcome === undefined) this.#waiting.push(run);
    else setImmediate(run);
    return next;
  }

  #settle(outcome: Outcome): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = outcome;
    for (const run of this.#waiting.splice(0)) run();
  }
}
