// Prelude `koa-handlers`: the application's own Koa middleware a block routes to.
import type { Middleware } from 'koa';

declare const login: Middleware;
declare const show: Middleware;
