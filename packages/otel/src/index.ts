// @ratekeeper/otel: OpenTelemetry metrics and span attributes for ratekeeper's decisions.

export { type Instrumentation, type InstrumentOptions, instrument } from './instrument';
export { METRICS } from './metrics';
