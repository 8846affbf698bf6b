// Prelude `express-handlers`: the application's own Express handlers a block routes to.
import type { RequestHandler } from 'express';

declare const login: RequestHandler;
