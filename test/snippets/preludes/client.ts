// Prelude `client`: what the outgoing-call examples call (docs/client-throttle.md): the remote API,
// its data, and a limiter, a store and an abort signal made elsewhere.
import type { Limiter, Store } from '@ratekeeper/core';

interface Row {
  readonly id: string;
}
interface Repo {
  readonly full_name: string;
}
interface Result {
  readonly url: string;
}
declare const api: {
  search(query: string): Promise<Result[]>;
  insert(tenant: string, rows: readonly Row[]): Promise<Response>;
};
declare function callBillingApi(): Promise<Response>;
declare function rawCall(id: string): Promise<Response>;
declare function githubApi<T>(path: string, token: string): Promise<T>;
declare const limiter: Limiter;
declare const store: Store;
declare const signal: AbortSignal;
