import type { INestApplication } from '@nestjs/common';
import { Controller, Get, HttpException, HttpStatus, Req, type Type, UseGuards } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { RequestDecision } from '@ratekeeper/core/http';
import { RateLimit, RateLimitGuard, SkipRateLimit } from '@ratekeeper/nestjs';
import supertest from 'supertest';

/** An hour boundary: window resets are round numbers. */
export const T0 = 1_699_999_200_000;
export const now = (): number => T0;

export type Platform = 'express' | 'fastify';

interface HasDecision {
  rateLimit?: RequestDecision;
  headers: Record<string, string | string[] | undefined>;
}

@Controller()
export class OpenController {
  @Get('a')
  a(): string {
    return 'a';
  }

  @Get('b')
  b(): string {
    return 'b';
  }

  @Get('fail')
  fail(): never {
    throw new HttpException('fail', HttpStatus.SERVICE_UNAVAILABLE);
  }

  @Get('key')
  key(@Req() req: HasDecision): string {
    return req.rateLimit?.key ?? 'none';
  }

  @SkipRateLimit()
  @Get('health')
  health(): string {
    return 'ok';
  }

  @RateLimit({ limit: 2, window: '1m', now })
  @Get('login')
  async login(@Req() req: HasDecision): Promise<string> {
    if (req.headers['x-ok'] === 'yes') await req.rateLimit?.refund();
    return 'login';
  }

  @RateLimit({ key: 'route' })
  @Get('by-route/:id')
  byRoute(@Req() req: HasDecision): string {
    return req.rateLimit?.key ?? 'none';
  }

  @RateLimit({ cost: 2 })
  @Get('costly')
  costly(): string {
    return 'costly';
  }
}

@RateLimit({ limit: 3, window: '1m', now })
@Controller('admin')
export class AdminController {
  @Get('x')
  x(): string {
    return 'x';
  }

  @Get('y')
  y(): string {
    return 'y';
  }

  @RateLimit({ limit: 1, window: '1m', now })
  @Get('z')
  z(): string {
    return 'z';
  }
}

@SkipRateLimit()
@Controller('public')
export class PublicController {
  @Get('p')
  p(): string {
    return 'p';
  }
}

@UseGuards(RateLimitGuard)
@Controller('guarded')
export class GuardedController {
  @RateLimit({ limit: 1, window: '1m', now })
  @Get()
  g(): string {
    return 'g';
  }
}

/** A handler two controllers inherit: each class's options must apply to it. */
export class BaseController {
  @Get('h')
  h(): string {
    return 'h';
  }
}

@Controller('one')
export class OneController extends BaseController {}

@RateLimit({ limit: 1, window: '1m', now })
@Controller('two')
export class TwoController extends BaseController {}

export const ALL_CONTROLLERS: Type[] = [OpenController, AdminController, PublicController, OneController, TwoController];

/** A Nest app on the platform, listening on 127.0.0.1, and a supertest agent for it. */
export async function start(
  platform: Platform,
  imports: NonNullable<Parameters<typeof Test.createTestingModule>[0]['imports']>,
  controllers: Type[] = ALL_CONTROLLERS,
): Promise<{ app: INestApplication; http: ReturnType<typeof supertest> }> {
  const moduleRef = await Test.createTestingModule({ imports, controllers }).compile();
  const app: INestApplication =
    platform === 'fastify'
      ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter())
      : moduleRef.createNestApplication();
  await app.init();
  if (platform === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  await app.listen(0, '127.0.0.1');
  return { app, http: supertest(await app.getUrl()) };
}
