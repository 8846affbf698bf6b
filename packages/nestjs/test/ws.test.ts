import 'reflect-metadata';
import { type INestApplication, UseGuards } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { RequestDecision } from '@ratekeeper/core/http';
import { RateLimit, RateLimitGuard, RateLimitModule, SkipRateLimit } from '@ratekeeper/nestjs';
import { io, type Socket } from 'socket.io-client';
import { now } from './app';

// Nest applies no global guard (APP_GUARD) to gateways: the guard goes on the gateway.
@UseGuards(RateLimitGuard)
@WebSocketGateway()
class PingGateway {
  @RateLimit({ limit: 2, window: '1m', algorithm: 'fixed-window', now })
  @SubscribeMessage('ping')
  ping(@MessageBody() data: number): { event: string; data: number } {
    return { event: 'pong', data };
  }

  @RateLimit({ key: 'route' })
  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() client: { rateLimit?: RequestDecision }): { event: string; data: string } {
    return { event: 'you', data: client.rateLimit?.key ?? 'none' };
  }

  @SkipRateLimit()
  @SubscribeMessage('free')
  free(@MessageBody() data: number): { event: string; data: number } {
    return { event: 'freed', data };
  }
}

interface Received {
  event: string;
  payload: unknown;
}

describe('@ratekeeper/nestjs with @nestjs/websockets (socket.io)', () => {
  let app: INestApplication | undefined;
  let client: Socket | undefined;
  afterEach(async () => {
    client?.disconnect();
    client = undefined;
    await app?.close();
    app = undefined;
  });

  /** The app, and a socket.io client on 127.0.0.1 recording every event it receives. */
  async function boot(): Promise<{ socket: Socket; received: Received[]; next: (count: number) => Promise<Received[]> }> {
    const moduleRef = await Test.createTestingModule({
      imports: [RateLimitModule.forRoot({ limit: 3, window: '1m', algorithm: 'fixed-window', now })],
      providers: [PingGateway],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    const socket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
    client = socket;
    const received: Received[] = [];
    let waiter: (() => void) | undefined;
    socket.onAny((event: string, payload: unknown) => {
      received.push({ event, payload });
      waiter?.();
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    const next = (count: number) =>
      new Promise<Received[]>((resolve) => {
        const check = () => {
          if (received.length >= count) {
            waiter = undefined;
            resolve(received.slice());
          }
        };
        waiter = check;
        check();
      });
    return { socket, received, next };
  }

  it('the n+1-th message gets the exception event with code and retryAfter; @SkipRateLimit events are never limited', async () => {
    const { socket, next } = await boot();
    socket.emit('ping', 1);
    expect(await next(1)).toEqual([{ event: 'pong', payload: 1 }]);
    socket.emit('ping', 2);
    await next(2);
    socket.emit('ping', 3);
    const all = await next(3);
    expect(all[1]).toEqual({ event: 'pong', payload: 2 });
    expect(all[2]).toEqual({
      event: 'exception',
      payload: { status: 'error', message: 'Too many requests, please try again later.', code: 'RATE_LIMITED', retryAfter: 60 },
    });
    // @SkipRateLimit: never limited.
    for (let i = 0; i < 5; i++) socket.emit('free', i);
    const after = await next(8);
    expect(after.slice(3).map((r) => r.event)).toEqual(['freed', 'freed', 'freed', 'freed', 'freed']);
  });

  it("key 'route' is the event name; the module's rules apply to a handler without rules; the decision is on the client", async () => {
    const { socket, next } = await boot();
    socket.emit('whoami');
    expect(await next(1)).toEqual([{ event: 'you', payload: 'whoami' }]);
    socket.emit('whoami');
    socket.emit('whoami');
    socket.emit('whoami');
    const all = await next(4);
    // Nest emits each answer when its handler settles: the order of the answers is not the messages'.
    expect(all.filter((r) => r.event === 'you')).toHaveLength(3);
    expect(all.find((r) => r.event === 'exception')?.payload).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 60 });
  });
});
