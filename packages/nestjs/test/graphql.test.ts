import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import type { INestApplication } from '@nestjs/common';
import { Context, GraphQLModule, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import type { RequestDecision } from '@ratekeeper/core/http';
import { RateLimit, RateLimitModule, type RateLimitModuleOptions, SkipRateLimit } from '@ratekeeper/nestjs';
import supertest from 'supertest';
import { now } from './app';

interface GqlContext {
  req: { rateLimit?: RequestDecision };
}

@Resolver()
class OpsResolver {
  @Query(() => String, { nullable: true })
  hello(): string {
    return 'hi';
  }

  @Query(() => String, { nullable: true })
  other(): string {
    return 'other';
  }

  @Query(() => String, { nullable: true })
  key(@Context() ctx: GqlContext): string {
    return ctx.req.rateLimit?.key ?? 'none';
  }

  @SkipRateLimit()
  @Query(() => String, { nullable: true })
  health(): string {
    return 'ok';
  }

  @RateLimit({ limit: 1, window: '1m', algorithm: 'fixed-window', now, message: 'Slow down.' })
  @Mutation(() => String, { nullable: true })
  login(): string {
    return 'welcome';
  }
}

interface GqlBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
}

describe('@ratekeeper/nestjs with @nestjs/graphql (Apollo on platform-express)', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function boot(options: RateLimitModuleOptions) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, includeStacktraceInErrorResponses: false }),
        RateLimitModule.forRoot(options),
      ],
      providers: [OpsResolver],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const http = supertest(await app.getUrl());
    return async (query: string) => {
      const res = await http.post('/graphql').send({ query });
      return { status: res.status, headers: res.headers, body: res.body as GqlBody };
    };
  }

  it("key ['ip', 'route']: each operation (Query.field) has its own bucket; headers on the HTTP response; errors carry code and retryAfter", async () => {
    const gql = await boot({ limit: 2, window: '1m', algorithm: 'fixed-window', key: ['ip', 'route'], now });
    const first = await gql('{ hello }');
    expect(first.body).toEqual({ data: { hello: 'hi' } });
    expect(first.headers['x-ratelimit-limit']).toBe('2');
    expect(first.headers['x-ratelimit-remaining']).toBe('1');
    expect(first.headers['ratelimit-policy']).toBe('"2-in-1min";q=2;w=60');
    expect((await gql('{ hello }')).body.data).toEqual({ hello: 'hi' });
    const denied = await gql('{ hello }');
    expect(denied.status).toBe(200);
    expect(denied.body.data).toEqual({ hello: null });
    expect(denied.body.errors).toHaveLength(1);
    expect(denied.body.errors?.[0]).toMatchObject({ message: 'Too many requests, please try again later.', path: ['hello'] });
    expect(denied.body.errors?.[0]?.extensions).toEqual({ code: 'RATE_LIMITED', retryAfter: 60 });
    expect(denied.headers['retry-after']).toBe('60');
    // Another operation: its own bucket.
    const other = await gql('{ other }');
    expect(other.body).toEqual({ data: { other: 'other' } });
    expect(other.headers['x-ratelimit-remaining']).toBe('1');
    // The key names the operation field.
    expect((await gql('{ key }')).body.data).toEqual({ key: '127.0.0.1|Query.key' });
  });

  it('module rules: one bucket per client for every operation; each root field of a request counts; @SkipRateLimit skips', async () => {
    const gql = await boot({ limit: 3, window: '1m', now });
    for (let i = 0; i < 4; i++) expect((await gql('{ health }')).body).toEqual({ data: { health: 'ok' } });
    const two = await gql('{ hello other }');
    expect(two.body).toEqual({ data: { hello: 'hi', other: 'other' } });
    expect(two.headers['x-ratelimit-remaining']).toBe('1');
    const third = await gql('{ a: hello b: hello }');
    expect(third.body.data).toEqual({ a: 'hi', b: null });
    expect(third.body.errors?.[0]?.path).toEqual(['b']);
    expect(third.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect((third.body.errors?.[0]?.extensions?.retryAfter as number) > 0).toBe(true);
  });

  it("a mutation's own @RateLimit: its own bucket and message; the module's bucket is not charged", async () => {
    const gql = await boot({ limit: 100, window: '1m', now });
    expect((await gql('mutation { login }')).body).toEqual({ data: { login: 'welcome' } });
    const denied = await gql('mutation { login }');
    expect(denied.body.data).toEqual({ login: null });
    expect(denied.body.errors?.[0]).toMatchObject({ message: 'Slow down.', extensions: { code: 'RATE_LIMITED', retryAfter: 60 } });
    expect(denied.headers['x-ratelimit-limit']).toBe('1');
    expect((await gql('{ hello }')).headers['x-ratelimit-remaining']).toBe('99');
  });
});
