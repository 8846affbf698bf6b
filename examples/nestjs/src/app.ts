import 'reflect-metadata';
import { type DynamicModule, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { MemoryStore, RateLimitModule } from '@ratekeeper/nestjs';
import { AdminController, ApiController, AuthController, HealthController, HelloController } from './controllers';
import { authenticate } from './plans';

/** What tests inject: a manual clock and the store. */
export interface AppOptions {
  now?: () => number;
  store?: MemoryStore;
}

@Module({})
export class AppModule implements NestModule {
  /** The app's module, with the rate-limit module's options (the module-wide limit). */
  static forRoot({ now, store = new MemoryStore() }: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        // Registers RateLimitGuard globally: every route without rules of its own counts here.
        // `now` (tests only) and `store` reach the decorators' limiters too: options layer
        // handler over controller over module.
        RateLimitModule.forRoot({ limit: 100, window: '15m', store, ...(now ? { now } : {}) }),
      ],
      controllers: [HelloController, AuthController, HealthController, AdminController, ApiController],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(authenticate).forRoutes(ApiController);
  }
}

/** The Nest application on platform-express (not listening yet). */
export async function createApp(options: AppOptions = {}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), { logger: ['error', 'warn'] });
  // Behind a reverse proxy? Then: app.set('trust proxy', 1) — the guard keys by req.ip as Express computes it.
  return app;
}
