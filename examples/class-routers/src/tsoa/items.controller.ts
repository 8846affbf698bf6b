import { rateLimit } from '@ratekeeper/express';
import type { Request as ExpressRequest } from 'express';
import { Controller, Get, Middlewares, Path, Request, Route } from 'tsoa';

/** A route with a parameter: `key: ['ip', 'route']` counts `/items/1` and `/items/2` in one bucket. */
@Route('items')
export class ItemsController extends Controller {
  @Get('{id}')
  @Middlewares(rateLimit({ limit: 3, window: '1m', key: ['ip', 'route'] }))
  public async get(@Path() id: string, @Request() req: ExpressRequest): Promise<{ id: string; key: string | undefined }> {
    return { id, key: req.rateLimit?.key };
  }
}
