import { Controller, Get, HttpCode, HttpStatus, Post, Req } from '@nestjs/common';
import { RateLimit, SkipRateLimit } from '@ratekeeper/nestjs';
import { type AuthedRequest, PLANS } from './plans';

/** No decorator: the module's limit (100 per 15 minutes per client, shared by every such route). */
@Controller()
export class HelloController {
  @Get()
  hello(@Req() req: AuthedRequest): { hello: string; remaining: number | undefined } {
    return { hello: 'world', remaining: req.rateLimit?.remaining };
  }
}

@Controller('auth')
export class AuthController {
  /** Its own bucket: 5 attempts a minute per client, whatever the rest of the app allows. */
  @RateLimit({ limit: 5, window: '1m', message: { error: 'Too many login attempts, try again later.' } })
  @Post('login')
  @HttpCode(HttpStatus.UNAUTHORIZED)
  login(): { error: string } {
    return { error: 'invalid credentials' };
  }
}

/** Never limited, not even by the module's rules (load balancers poll it). */
@Controller('health')
export class HealthController {
  @SkipRateLimit()
  @Get()
  health(): string {
    return 'ok';
  }
}

/** One bucket per client for the whole controller: `/admin/users` and `/admin/audit` share 10 a minute. */
@RateLimit({ limit: 10, window: '1m' })
@Controller('admin')
export class AdminController {
  @Get('users')
  users(): string[] {
    return ['ada', 'grace'];
  }

  @Get('audit')
  audit(): string[] {
    return [];
  }
}

/**
 * Tiered plans: the rules come from the caller's plan, counted per account (anonymous callers per
 * address). The type parameter gives the options' functions the authenticated request.
 */
@RateLimit<AuthedRequest>({
  rules: (req) => PLANS[req.account?.plan ?? 'anonymous'],
  key: 'user',
  user: (req) => req.account?.id,
})
@Controller('api')
export class ApiController {
  @Get('data')
  data(@Req() req: AuthedRequest): { plan: string; remaining: number | undefined } {
    return { plan: req.account?.plan ?? 'anonymous', remaining: req.rateLimit?.remaining };
  }
}
