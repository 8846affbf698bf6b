import type { DecisionEvent, RecoverEvent, StoreErrorEvent } from './events';

/** Names of the `node:diagnostics_channel` channels ratekeeper publishes on. */
export const CHANNELS = Object.freeze({
  decision: 'ratekeeper:decision',
  storeError: 'ratekeeper:store-error',
  recover: 'ratekeeper:recover',
} as const);

/** The part of a diagnostics channel the limiter uses. @internal */
export interface Channel<T> {
  readonly hasSubscribers: boolean;
  publish(message: T): void;
}

interface DiagnosticsChannel {
  channel(name: string): Channel<unknown>;
}

const SILENT: Channel<never> = Object.freeze({ hasSubscribers: false, publish: () => {} });

/**
 * `node:diagnostics_channel`, where the runtime has it (Node, Bun, Deno, workerd with
 * `nodejs_compat`), found through `process.getBuiltinModule` so that edge bundles contain no
 * `node:` import; elsewhere every channel is silent.
 */
function diagnostics(): DiagnosticsChannel | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const dc = proc?.getBuiltinModule?.('node:diagnostics_channel') as DiagnosticsChannel | undefined;
    return typeof dc?.channel === 'function' ? dc : undefined;
  } catch {
    return undefined;
  }
}

const dc = diagnostics();

function channel<T>(name: string): Channel<T> {
  return (dc?.channel(name) as Channel<T> | undefined) ?? SILENT;
}

/** @internal Every decision of every limiter. */
export const decisionChannel: Channel<DecisionEvent> = channel(CHANNELS.decision);
/** @internal Every store failure, with the policy applied. */
export const storeErrorChannel: Channel<StoreErrorEvent> = channel(CHANNELS.storeError);
/** @internal A limiter's store answering again after an outage. */
export const recoverChannel: Channel<RecoverEvent> = channel(CHANNELS.recover);
