import { rateLimit } from '@ratekeeper/express';
import type { Request as ExpressRequest } from 'express';
import { Get, JsonController, Param, Req, UseBefore } from 'routing-controllers';

/** A route with a parameter: `key: ['ip', 'route']` counts `/items/1` and `/items/2` in one bucket. */
@JsonController('/items')
export class ItemsController {
  @Get('/:id')
  @UseBefore(rateLimit({ limit: 3, window: '1m', key: ['ip', 'route'] }))
  // `ExpressRequest`, not `Request`: the decorator metadata of a type-only import names the value of
  // that name when there is one, and `Request` is also a global (fetch's) in Node.
  get(@Param('id') id: string, @Req() req: ExpressRequest) {
    return { id, key: req.rateLimit?.key };
  }
}
