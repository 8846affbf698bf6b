import { type DynamicModule, type FactoryProvider, Module, type ModuleMetadata, type Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { RateLimitGuard } from './guard';
import type { NestRequest, RateLimitModuleOptions } from './options';
import { RATE_LIMIT_OPTIONS } from './tokens';

/** Options of {@link RateLimitModule.forRootAsync}. */
export interface RateLimitModuleAsyncOptions<Req = NestRequest> extends Pick<ModuleMetadata, 'imports'> {
  /** Builds the options (may be async), e.g. from a ConfigService or a Redis client provider. */
  useFactory: (...args: never[]) => RateLimitModuleOptions<Req> | Promise<RateLimitModuleOptions<Req>>;
  /** Providers passed to `useFactory`, in order. */
  inject?: FactoryProvider['inject'];
  /** Register `RateLimitGuard` as a global guard (known before the factory runs). @default true */
  global?: boolean;
}

/**
 * The ratekeeper module: `forRoot(options)` or `forRootAsync({ imports, useFactory, inject })` in
 * your root module registers `RateLimitGuard` globally (unless `global: false`); `@RateLimit` and
 * `@SkipRateLimit` on controllers and handlers refine it.
 * @example
 * @Module({ imports: [RateLimitModule.forRoot({ limit: 100, window: '1m' })] })
 * export class AppModule {}
 */
// biome-ignore lint/complexity/noStaticOnlyClass: Nest modules are classes with static forRoot/forRootAsync.
export class RateLimitModule {
  /** The module with fixed options. */
  static forRoot<Req = NestRequest>(options: RateLimitModuleOptions<Req> = {} as RateLimitModuleOptions<Req>): DynamicModule {
    return build([{ provide: RATE_LIMIT_OPTIONS, useValue: options }], options.global !== false, []);
  }

  /** The module with options built by a factory (ConfigService, a Redis client provider...). */
  static forRootAsync<Req = NestRequest>(options: RateLimitModuleAsyncOptions<Req>): DynamicModule {
    const provider: Provider = { provide: RATE_LIMIT_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] };
    return build([provider], options.global !== false, options.imports ?? []);
  }
}

function build(options: Provider[], global: boolean, imports: NonNullable<ModuleMetadata['imports']>): DynamicModule {
  const guards: Provider[] = global ? [{ provide: APP_GUARD, useExisting: RateLimitGuard }] : [];
  return {
    module: RateLimitModule,
    global: true,
    imports,
    providers: [...options, RateLimitGuard, ...guards],
    exports: [RATE_LIMIT_OPTIONS, RateLimitGuard],
  };
}

Module({})(RateLimitModule);
