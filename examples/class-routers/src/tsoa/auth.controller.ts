import { rateLimit } from '@ratekeeper/express';
import { Controller, Middlewares, Post, Route } from 'tsoa';

@Route('auth')
export class AuthController extends Controller {
  @Post('login')
  @Middlewares(rateLimit({ limit: 5, window: '1m', key: ['ip', 'route'] }))
  public async login(): Promise<{ ok: boolean }> {
    return { ok: true };
  }
}
