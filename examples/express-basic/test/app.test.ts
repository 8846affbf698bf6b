import supertest from 'supertest';
import { createApp } from '../src/app';

describe('examples/express-basic', () => {
  const now = () => 1_699_999_200_000;

  it('limits login attempts per client to 5 a minute, with a JSON message', async () => {
    const http = supertest(createApp({ now }));
    for (let i = 0; i < 5; i++) expect((await http.post('/login')).status).toBe(401);
    const res = await http.post('/login');
    expect(res.status).toBe(429);
    expect(res.body).toEqual({ error: 'Too many login attempts, try again later.' });
    // Sliding window: one more fits once 1/5 of the next minute has passed (60 s + 12 s).
    expect(res.headers['retry-after']).toBe('72');
    // The app-wide limit still has room.
    expect((await http.get('/')).status).toBe(200);
  });

  it('sends the default headers and never limits /health', async () => {
    const http = supertest(createApp({ now }));
    const res = await http.get('/');
    expect(res.body).toEqual({ hello: 'world', remaining: 99 });
    expect(res.headers['ratelimit-policy']).toBe('"100-in-15min";q=100;w=900');
    const health = await http.get('/health');
    expect(health.headers['x-ratelimit-limit']).toBeUndefined();
  });
});
