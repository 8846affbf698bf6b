import { type Attributes, type Span, trace } from '@opentelemetry/api';
import type { DecisionEvent } from '@ratekeeper/core';

/** Name of the span event added for each decision when a span sees more than one. */
export const DECISION_EVENT = 'ratekeeper.decision';

/** A span's first decision, kept until a second one needs it as an event; `EVENTS` once they are events. */
interface First {
  readonly attributes: Attributes;
  readonly at: number;
}
const EVENTS = 'events';
const seen = new WeakMap<Span, First | typeof EVENTS>();

/**
 * Annotates the active span: the request's, since core publishes in the caller's async context.
 * The span's `ratekeeper.*` attributes describe the latest decision: the one that answered the
 * request (a route limiter's 429 after the app-wide limiter allowed; `acquire()`'s final grant
 * after its denied attempts; `anyOf`'s allowing member). When a span sees more than one decision,
 * each also becomes a `ratekeeper.decision` event (the first at its own time), so none is lost; a
 * lone decision is in the attributes only, where an event would repeat them at some cost.
 */
export function annotateSpan(e: DecisionEvent): void {
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
  const before = seen.get(span);
  // Both events of a pair are timed on one clock, so their order holds. A performance timestamp, not
  // an epoch one: the SDK maps it onto the span's own clock (anchored to Date.now at its start), as it
  // does an event without a time; timeOrigin + now() drifts from that clock in a long-lived process.
  const at = performance.now();
  if (before === undefined) {
    seen.set(span, { attributes, at });
  } else {
    if (before !== EVENTS) {
      span.addEvent(DECISION_EVENT, before.attributes, before.at);
      seen.set(span, EVENTS);
    }
    span.addEvent(DECISION_EVENT, attributes, at);
  }
  span.setAttributes(attributes);
}
