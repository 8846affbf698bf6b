// Entry point of `@ratekeeper/core/testing`: what a test of an app or of a custom store needs.

export { inspectKey, resetAllLimiters } from './testing/limiters';
export { type ManualClock, manualClock } from './testing/manual-clock';
export { describeStoreContract, type TestApi } from './testing/store-contract';
