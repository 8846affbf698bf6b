// Entry point of `@ratekeeper/core/redis` (filled in by the Redis store).
export {};
