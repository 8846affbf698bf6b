import { createLimiter, MemoryStore } from '@ratekeeper/core';
import fc from 'fast-check';
import { MAX_KEY_LENGTH, storageKey } from '../src/storage-key';

// The key a limiter stores state under: the key itself when short and well-formed, else a hash.
// Redis-side behaviour (short Redis key names, lone surrogates kept apart) is in redis/hardening.test.ts.

const HASHED = /^~h:[0-9a-f]{64}$/;

/** Any UTF-16 code units, lone surrogates included. */
const units = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength, maxLength }).map((u) => String.fromCharCode(...u));

/** Keys around every branch: short, around the length limit, long, ill-formed, marker-prefixed. */
const anyKey: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 20 }),
  units(0, 8),
  fc.string({ minLength: MAX_KEY_LENGTH - 2, maxLength: MAX_KEY_LENGTH + 2 }),
  units(MAX_KEY_LENGTH - 2, MAX_KEY_LENGTH + 40),
  fc.string({ maxLength: 70 }).map((s) => `~h:${s}`),
  fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uFFFD', 'a\uD800b', 'a\uDFFFb', 'a\uFFFDb', '~h:', '~h', '~'),
);

describe('storageKey', () => {
  it('is the identity for short well-formed keys (no hashing on the common path)', () => {
    for (const key of ['', 'user:1', '203.0.113.7', 'ключ', '😀', 'a\uD83D\uDE00b', '~h', '~x:abc', 'h:~', 'k'.repeat(MAX_KEY_LENGTH)]) {
      expect(storageKey(key)).toBe(key);
    }
    fc.assert(
      fc.property(fc.string({ maxLength: MAX_KEY_LENGTH, unit: 'grapheme' }), (key) => {
        fc.pre(key.length <= MAX_KEY_LENGTH && !key.startsWith('~h:'));
        expect(storageKey(key)).toBe(key);
      }),
    );
  });

  it(`hashes keys longer than MAX_KEY_LENGTH (${MAX_KEY_LENGTH}) to '~h:' + 64 hex digits (67 characters)`, () => {
    expect(MAX_KEY_LENGTH).toBe(128);
    for (const key of ['k'.repeat(MAX_KEY_LENGTH + 1), 'x'.repeat(10_000), '😀'.repeat(65)]) {
      const h = storageKey(key);
      expect(h).toMatch(HASHED);
      expect(h).toHaveLength(67);
    }
  });

  it('hashes ill-formed keys (lone surrogates), so UTF-8 encoding cannot merge them', () => {
    const keys = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF', 'a\uD800b', 'a\uDFFFb', '\uDE00\uD83D', `${'k'.repeat(10)}\uD800`];
    for (const key of keys) expect(storageKey(key)).toMatch(HASHED);
    // Distinct from each other and from the U+FFFD a UTF-8 encoder would put in their place.
    const all = [...keys, '\uFFFD', 'a\uFFFDb'].map(storageKey);
    expect(new Set(all).size).toBe(all.length);
  });

  it("hashes keys starting with '~h:', so a literal key never equals a hashed one", () => {
    for (const key of ['~h:', '~h:x', `~h:${'0'.repeat(64)}`]) expect(storageKey(key)).toMatch(HASHED);
    const long = 'k'.repeat(500);
    const hashed = storageKey(long);
    // The hashed form sent back as a literal key is a different bucket from the long key.
    expect(storageKey(hashed)).toMatch(HASHED);
    expect(storageKey(hashed)).not.toBe(hashed);
    expect(storageKey(hashed)).not.toBe(storageKey(long));
  });

  it('is deterministic, bounded and always well-formed (its UTF-8 bytes identify it)', () => {
    fc.assert(
      fc.property(anyKey, (key) => {
        const s = storageKey(key);
        expect(storageKey(key)).toBe(s);
        expect(s.length).toBeLessThanOrEqual(MAX_KEY_LENGTH);
        expect(s.isWellFormed()).toBe(true);
        if (s !== key) expect(s).toMatch(HASHED);
      }),
    );
  });

  it('is injective on a sample of keys (hashed forms of sample keys included as literal keys)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(anyKey, { minLength: 2, maxLength: 60 }), (keys) => {
        const sample = [...new Set([...keys, ...keys.map(storageKey)])];
        const stored = sample.map(storageKey);
        expect(new Set(stored).size).toBe(sample.length);
      }),
      { numRuns: 300 },
    );
  });
});

describe('MemoryStore: long and ill-formed keys', () => {
  const long = `${'k'.repeat(9_999)}a`;
  const twin = `${'k'.repeat(9_999)}b`;

  it('a 10,000-character key counts (limit 2), and keys differing only in the last character are distinct', async () => {
    const limiter = createLimiter({ limit: 2, window: '1h', store: new MemoryStore() });
    const decisions = [await limiter.consume(long), await limiter.consume(long), await limiter.consume(long), await limiter.consume(twin)];
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, false, true]);
    // refund, peek and reset reach the same bucket as consume.
    await limiter.refund(long);
    expect((await limiter.peek(long)).remaining).toBe(1);
    await limiter.reset(long);
    expect((await limiter.peek(long)).remaining).toBe(2);
    expect((await limiter.peek(twin)).remaining).toBe(1);
  });

  it("a literal '~h:…' key is not the bucket of the long key it hashes", async () => {
    const limiter = createLimiter({ limit: 1, window: '1h', store: new MemoryStore() });
    expect((await limiter.consume(long)).allowed).toBe(true);
    expect((await limiter.consume(storageKey(long))).allowed).toBe(true);
  });

  it('lone surrogates and U+FFFD are distinct buckets (limit 1: each first consume allowed)', async () => {
    const limiter = createLimiter({ limit: 1, window: '1h', store: new MemoryStore() });
    for (const key of ['\uD800', '\uDBFF', '\uDC00', '\uFFFD', 'a\uD800b', 'a\uDFFFb', 'a\uFFFDb']) {
      expect([key, (await limiter.consume(key)).allowed]).toEqual([key, true]);
      expect([key, (await limiter.consume(key)).allowed]).toEqual([key, false]);
    }
  });
});
