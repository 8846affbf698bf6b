// @ratekeeper/express/compat: the configuration checks (logged with express-rate-limit's
// ERR_ERL_* codes, never thrown), `validate`, IPv6 keys and ipKeyGenerator.

import rateLimit, { ipKeyGenerator } from '@ratekeeper/express/compat';
import express from 'express';
import supertest from 'supertest';
import { appWith, recordingLogger } from './compat/helpers';

describe('checks at construction', () => {
  it.each([
    [{ windowMS: 1000 }, 'ERR_ERL_UNKNOWN_OPTION'],
    [{ ipv6Subnet: 48.5 }, 'ERR_ERL_IPV6_SUBNET'],
    [{ ipv6Subnet: 30 }, 'ERR_ERL_IPV6_SUBNET'],
    [{ ipv6Subnet: 64, keyGenerator: () => 'all' }, 'ERR_ERL_IPV6SUBNET_OR_KEYGENERATOR'],
    [{ keyGenerator: (req: { ip?: string; query: { k?: string } }) => req.query.k ?? req.ip ?? '' }, 'ERR_ERL_KEY_GEN_IPV6'],
    [{ windowMs: 2 ** 31 }, 'ERR_ERL_WINDOW_MS'],
    [{ validate: { nonsense: true } }, 'ERR_ERL_UNKNOWN_VALIDATION'],
  ])('%j logs %s', (options, code) => {
    const logger = recordingLogger();
    rateLimit({ ...(options as object), logger });
    expect(logger.codes()).toEqual([code]);
    const [error] = logger.errors[0] as [Error & { code: string; help: string }];
    expect(error).toBeInstanceOf(Error);
    expect(error.help).toBe(`https://express-rate-limit.github.io/${code}/`);
    expect(error.message).toContain(error.help);
  });

  it('removed options are warnings (logger.warn)', () => {
    const logger = recordingLogger();
    rateLimit({ onLimitReached: () => {}, draft_polli_ratelimit_headers: true, logger, validate: { knownOptions: false } } as object);
    expect(logger.errors).toEqual([]);
    expect(logger.warnings.map(([w]) => (w as { code: string }).code)).toEqual([
      'WRN_ERL_DEPRECATED_DRAFT_POLLI_HEADERS',
      'WRN_ERL_DEPRECATED_ON_LIMIT_REACHED',
    ]);
  });

  it('keyGenerator calling ipKeyGenerator on the IP, and express-slow-down options, are fine', () => {
    const logger = recordingLogger();
    rateLimit({ keyGenerator: (req) => ipKeyGenerator(req.ip ?? ''), logger });
    rateLimit({ delayAfter: 1, delayMs: 100, logger } as object);
    expect(logger.codes()).toEqual([]);
  });

  it('validate: false turns every check off; validate: { name: false } one of them', () => {
    const off = recordingLogger();
    rateLimit({ windowMS: 1, ipv6Subnet: 1, logger: off, validate: false } as object);
    expect(off.codes()).toEqual([]);
    const one = recordingLogger();
    rateLimit({ windowMS: 1, ipv6Subnet: 1, logger: one, validate: { knownOptions: false } } as object);
    expect(one.codes()).toEqual(['ERR_ERL_IPV6_SUBNET']);
    const onlyOne = recordingLogger();
    rateLimit({ windowMS: 1, ipv6Subnet: 1, logger: onlyOne, validate: { default: false, ipv6Subnet: true } } as object);
    expect(onlyOne.codes()).toEqual(['ERR_ERL_IPV6_SUBNET']);
  });

  it('a limiter created while handling a request logs ERR_ERL_CREATED_IN_REQUEST_HANDLER', async () => {
    const logger = recordingLogger();
    const app = express();
    app.get('/', (_req, res) => {
      rateLimit({ logger });
      res.send('made');
    });
    await supertest(app).get('/').expect(200, 'made');
    expect(logger.codes()).toEqual(['ERR_ERL_CREATED_IN_REQUEST_HANDLER']);
  });
});

describe('checks of the request (default keyGenerator), each once per limiter', () => {
  it('X-Forwarded-For without trust proxy logs ERR_ERL_UNEXPECTED_X_FORWARDED_FOR, once', async () => {
    const logger = recordingLogger();
    const agent = supertest(appWith(rateLimit({ logger })));
    await agent.get('/').set('X-Forwarded-For', '10.0.0.1').expect(200);
    await agent.get('/').set('X-Forwarded-For', '10.0.0.1').expect(200);
    expect(logger.codes()).toEqual(['ERR_ERL_UNEXPECTED_X_FORWARDED_FOR']);
  });

  it('trust proxy true logs ERR_ERL_PERMISSIVE_TRUST_PROXY; a Forwarded header Express ignores, ERR_ERL_FORWARDED_HEADER', async () => {
    const logger = recordingLogger();
    const app = appWith(rateLimit({ logger }));
    app.set('trust proxy', true);
    await supertest(app).get('/').set('Forwarded', 'for=10.0.0.1').expect(200);
    expect(logger.codes()).toEqual(['ERR_ERL_PERMISSIVE_TRUST_PROXY', 'ERR_ERL_FORWARDED_HEADER']);
  });

  it('an undefined request.ip logs ERR_ERL_UNDEFINED_IP_ADDRESS', async () => {
    const logger = recordingLogger();
    const limiter = rateLimit({ logger });
    const next = jest.fn();
    const req = { app: { get: () => false }, headers: {}, socket: {} };
    const res = { setHeader: () => {}, headersSent: false };
    await limiter(req as never, res as never, next);
    expect(next).toHaveBeenCalledWith();
    expect(logger.codes()).toEqual(['ERR_ERL_UNDEFINED_IP_ADDRESS']);
  });
});

describe('IPv6 clients', () => {
  // Express takes the client address from X-Forwarded-For sent by a trusted (loopback) proxy.
  const appFor = (options: Parameters<typeof rateLimit>[0]) => {
    const app = appWith(rateLimit({ limit: 1, ...options }));
    app.set('trust proxy', 'loopback');
    return supertest(app);
  };

  it('share one counter per /56 by default', async () => {
    const agent = appFor({});
    await agent.get('/info').set('X-Forwarded-For', '2001:db8:1234:5601::1').expect(200);
    const res = await agent.get('/').set('X-Forwarded-For', '2001:db8:1234:56ff:abcd::2').expect(429);
    expect(res.headers['x-ratelimit-limit']).toBe('1');
    await agent.get('/').set('X-Forwarded-For', '2001:db8:1234:5700::1').expect(200);
  });

  it('ipv6Subnet: a prefix length, a function of the request, or false (per address)', async () => {
    const per64 = appFor({ ipv6Subnet: 64 });
    await per64.get('/').set('X-Forwarded-For', '2001:db8:0:1::1').expect(200);
    await per64.get('/').set('X-Forwarded-For', '2001:db8:0:2::1').expect(200);
    const logger = recordingLogger();
    const byFunction = appFor({ ipv6Subnet: async () => 48, logger });
    const info = await byFunction.get('/info').set('X-Forwarded-For', '2001:db8:1:2::3').expect(200);
    expect(info.body.key).toBe('2001:db8:1::/48');
    expect(logger.codes()).toEqual([]);
    const perAddress = appFor({ ipv6Subnet: false });
    const exact = await perAddress.get('/info').set('X-Forwarded-For', '2001:db8::7').expect(200);
    expect(exact.body.key).toBe('2001:db8::7');
  });

  it('an ipv6Subnet function returning a bad value logs ERR_ERL_IPV6_SUBNET', async () => {
    const logger = recordingLogger();
    await appFor({ ipv6Subnet: () => 72, logger })
      .get('/')
      .set('X-Forwarded-For', '2001:db8::1')
      .expect(200);
    expect(logger.codes()).toEqual(['ERR_ERL_IPV6_SUBNET']);
  });
});

describe('ipKeyGenerator', () => {
  it.each([
    ['1.2.3.4', 56, '1.2.3.4'],
    ['1.2.3.4', 16, '1.2.3.4'],
    ['::ffff:1.2.3.4', 56, '1.2.3.4'],
    ['::ffff:102:304', 56, '1.2.3.4'],
    ['::ffff:102:304', false, '1.2.3.4'],
    ['::1.2.3.4', 56, '1.2.3.4'],
    ['::1.2.3.4', false, '1.2.3.4'],
    ['::1', 56, '::/56'],
    ['::', 56, '::/56'],
    ['2001:db8:1234:5678::1.2.3.4', 56, '2001:db8:1234:5600::/56'],
    ['64:ff9b::1.2.3.4', 56, '64:ff9b::/56'],
    ['0123:4567:89ab:cdef:0123:4567:89ab:cdef', 56, '123:4567:89ab:cd00::/56'],
    ['0123:4567:89ab:cdef:0123:4567:89ab:cdef', 63, '123:4567:89ab:cdee::/63'],
    ['0123:4567:89ab:cdef:0123:4567:89ab:cdef', 128, '123:4567:89ab:cdef:123:4567:89ab:cdef/128'],
    ['0123:4567:89ab:cdef:0123:4567:89ab:cdef', false, '0123:4567:89ab:cdef:0123:4567:89ab:cdef'],
    ['123:ABC::89', 56, '123:abc::/56'],
    ['2001:0:0:1:0:0:0:1', 128, '2001:0:0:1::1/128'],
    ['2001:db8:0:0:1:0:0:1', 128, '2001:db8::1:0:0:1/128'],
    ['fe80::1%eth0', 64, 'fe80::/64'],
  ] as const)('%s with %s → %s', (ip, subnet, key) => {
    expect(ipKeyGenerator(ip, subnet)).toBe(key);
  });

  it('uses /56 by default and leaves what is not an IP address alone', () => {
    expect(ipKeyGenerator('2001:db8:1234:56ff::1')).toBe('2001:db8:1234:5600::/56');
    expect(ipKeyGenerator('not-an-ip')).toBe('not-an-ip');
  });
});
