import { rateLimit } from '@ratekeeper/express';
import { JsonController, Post, UseBefore } from 'routing-controllers';

@JsonController('/auth')
export class AuthController {
  @Post('/login')
  @UseBefore(rateLimit({ limit: 5, window: '1m', key: ['ip', 'route'] }))
  login() {
    return { ok: true };
  }
}
