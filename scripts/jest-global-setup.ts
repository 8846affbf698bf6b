// Starts shared test services (filled in by the Redis store work).
export default async function setup(): Promise<void> {}
