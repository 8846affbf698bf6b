import { trace } from '@opentelemetry/api';
import type { DecisionEvent } from '@ratekeeper/core';

/** Name of the span event added for every decision made while a span is active. */
export const DECISION_EVENT = 'ratekeeper.decision';

/**
 * Annotates the active span: the request's, since core publishes in the caller's async context.
 * Every decision adds a `ratekeeper.decision` event with its attributes, and sets the same
 * attributes on the span, so the span's describe the latest decision: the one that answered the
 * request (a route limiter's 429 after the app-wide limiter allowed; `acquire()`'s final grant
 * after its denied attempts; `anyOf`'s allowing member) while the events keep every decision.
 */
export function annotateSpan(e: DecisionEvent): void {
  const span = trace.getActiveSpan();
  if (span === undefined || !span.isRecording()) return;
  // Never the key: it names a user or an address.
  const attributes = {
    'ratekeeper.limiter': e.limiter,
    'ratekeeper.rule': e.rule,
    'ratekeeper.outcome': e.outcome,
    'ratekeeper.allowed': e.allowed,
    'ratekeeper.remaining': e.remaining,
    'ratekeeper.retry_after_ms': e.retryAfterMs,
    'ratekeeper.cost': e.cost,
  };
  span.addEvent(DECISION_EVENT, attributes);
  span.setAttributes(attributes);
}
