import { isConfigError } from '@ratekeeper/core';
import { compileAllowList, normalizeIp } from '@ratekeeper/core/http';

describe('normalizeIp', () => {
  it('keeps IPv4 as is', () => {
    expect(normalizeIp('203.0.113.7')).toBe('203.0.113.7');
  });

  it.each([
    '::ffff:203.0.113.7',
    '::FFFF:203.0.113.7',
    '0:0:0:0:0:ffff:203.0.113.7',
    '0000:0000:0000:0000:0000:ffff:cb00:7107',
    '::ffff:cb00:7107',
  ])('unmaps the IPv4-mapped address %s', (ip) => {
    expect(normalizeIp(ip)).toBe('203.0.113.7');
  });

  it('masks IPv6 to /56 by default, whatever the spelling', () => {
    const a = normalizeIp('2001:db8:0:100::1');
    expect(a).toBe('2001:db8:0:100::/56');
    expect(normalizeIp('2001:0db8:0000:01ff:ffff:ffff:ffff:ffff')).toBe(a);
    expect(normalizeIp('2001:DB8:0:1AB::42')).toBe(a);
    expect(normalizeIp('2001:db8:0:200::1')).not.toBe(a);
  });

  it('masks to other prefix lengths', () => {
    expect(normalizeIp('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::/64');
    expect(normalizeIp('2001:db8:1:2:3:4:5:6', 48)).toBe('2001:db8:1::/48');
    expect(normalizeIp('2001:db8:1:2ff:3:4:5:6', 60)).toBe('2001:db8:1:2f0::/60');
    expect(normalizeIp('2001:db8:1:2:3:4:5:6', 1)).toBe('::/1');
  });

  it('keeps each address apart with subnet false, in canonical form', () => {
    expect(normalizeIp('2001:0db8:0000:0000:0000:0000:0000:0001', false)).toBe('2001:db8::1');
    expect(normalizeIp('2001:db8::2', false)).toBe('2001:db8::2');
  });

  it('drops IPv6 zone ids', () => {
    expect(normalizeIp('fe80::1%eth0', false)).toBe('fe80::1');
  });

  it('maps a missing address to one shared key', () => {
    expect(normalizeIp(undefined)).toBe('unknown');
    expect(normalizeIp('')).toBe('unknown');
  });
});

describe('compileAllowList', () => {
  const allowed = compileAllowList(['198.51.100.7', '10.0.0.0/8', '2001:db8:ff::/48', '::ffff:192.0.2.1', '2001:db8::0001']);

  it('matches exact addresses in any notation', () => {
    expect(allowed('198.51.100.7')).toBe(true);
    expect(allowed('::ffff:198.51.100.7')).toBe(true);
    expect(allowed('192.0.2.1')).toBe(true);
    expect(allowed('2001:db8::1')).toBe(true);
    expect(allowed('2001:0db8:0::1')).toBe(true);
    expect(allowed('198.51.100.8')).toBe(false);
  });

  it('matches CIDR ranges of either family', () => {
    expect(allowed('10.1.2.3')).toBe(true);
    expect(allowed('::ffff:10.1.2.3')).toBe(true);
    expect(allowed('2001:db8:ff:1::9')).toBe(true);
    expect(allowed('2001:db8:fe::1')).toBe(false);
    expect(allowed('11.0.0.1')).toBe(false);
    expect(allowed(undefined)).toBe(false);
  });

  it('rejects invalid entries at construction', () => {
    for (const bad of [['not-an-ip'], ['10.0.0.0/33'], [42]]) {
      let error: unknown;
      try {
        compileAllowList(bad);
      } catch (e) {
        error = e;
      }
      expect(isConfigError(error)).toBe(true);
      expect((error as Error).message).toMatch(/allowList\[0\]/);
    }
  });
});
