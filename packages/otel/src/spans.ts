import { type Attributes, trace } from '@opentelemetry/api';
import type { DecisionEvent } from '@ratekeeper/core';

/** Name of the span event added for every decision with `instrument({ spans: 'events' })`. */
export const DECISION_EVENT = 'ratekeeper.decision';

/**
 * Annotates the active span: the request's, since core publishes in the caller's async context.
 * The span's `ratekeeper.*` attributes describe the latest decision: the one that answered the
 * request (a route limiter's 429 after the app-wide limiter allowed; `acquire()`'s final grant
 * after its denied attempts; `anyOf`'s allowing member). With `events`, each decision also becomes
 * a `ratekeeper.decision` event, so a request's earlier decisions stay on its span too; that costs
 * an event per decision, so it is opt-in (per-span bookkeeping to add events only where a span sees
 * several decisions cost more than the events: a WeakMap entry per span).
 */
export function annotateSpan(e: DecisionEvent, events: boolean): void {
  const span = trace.getActiveSpan();
  if (span === undefined || !span.isRecording()) return;
  // Never the key: it names a user or an address.
  const attributes: Attributes = {
    'ratekeeper.limiter': e.limiter,
    'ratekeeper.rule': e.rule,
    'ratekeeper.outcome': e.outcome,
    'ratekeeper.allowed': e.allowed,
    'ratekeeper.remaining': e.remaining,
    'ratekeeper.retry_after_ms': e.retryAfterMs,
    'ratekeeper.cost': e.cost,
  };
  if (events) span.addEvent(DECISION_EVENT, attributes);
  span.setAttributes(attributes);
}
