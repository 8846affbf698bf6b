import ipaddr from 'ipaddr.js';
import { ConfigError } from '../errors/config-error';

/** Key used when the framework reports no client address (e.g. the socket is already gone). */
export const UNKNOWN_IP = 'unknown';

/**
 * Normalises a client address into a rate-limit key. IPv4 stays as is; IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`, `::ffff:0102:0304`, any spelling) becomes the IPv4 address, so one client
 * gets one bucket whichever socket family served it; other IPv6 addresses are masked to
 * `subnet` bits (`2001:db8:0:100::/56`) because a single customer usually holds a whole /56 or /64
 * and could otherwise rotate through addresses. `subnet: false` keeps every IPv6 address apart.
 * @example
 * normalizeIp('2001:db8:0:1ff::1', 56); // '2001:db8:0:100::/56'
 */
export function normalizeIp(ip: string | undefined, subnet: number | false = 56): string {
  if (ip === undefined || ip === '') return UNKNOWN_IP;
  // Fast path: dotted IPv4 is what most servers see; parsing it would only return it unchanged.
  if (ip.indexOf(':') === -1) return ip;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.parse(ip);
  } catch {
    return ip;
  }
  if (addr.kind() === 'ipv4') return addr.toString();
  const v6 = addr as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  if (subnet === false || subnet === 128) return text(v6);
  return `${maskIpv6(v6.parts, subnet).toString()}/${subnet}`;
}

function maskIpv6(parts: readonly number[], bits: number): ipaddr.IPv6 {
  const masked = new Array<number>(8);
  for (let i = 0; i < 8; i++) {
    const keep = Math.min(16, Math.max(0, bits - i * 16));
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
    masked[i] = (parts[i] ?? 0) & mask;
  }
  return new ipaddr.IPv6(masked);
}

/** Validates the `ipv6Subnet` option. */
export function resolveIpv6Subnet(value: unknown): number | false {
  if (value === undefined) return 56;
  if (value === false) return false;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 128)
    throw new ConfigError('ipv6Subnet', 'an integer prefix length from 1 to 128, or false', value);
  return value;
}

/** Canonical text of an address: IPv6 compressed and without a zone id. */
function text(addr: ipaddr.IPv4 | ipaddr.IPv6): string {
  return addr.kind() === 'ipv6' ? new ipaddr.IPv6((addr as ipaddr.IPv6).parts).toString() : addr.toString();
}

/** Canonical form of one address for exact allow-list matching (mapped IPv4 unmapped, IPv6 compressed). */
function canonical(ip: string): string | undefined {
  try {
    return text(ipaddr.process(ip));
  } catch {
    return undefined;
  }
}

/**
 * Compiles an allow list of addresses and CIDR ranges (`'10.0.0.0/8'`, `'2001:db8::/32'`) into a
 * matcher, validating every entry once.
 */
export function compileAllowList(list: readonly unknown[], option = 'allowList'): (ip: string | undefined) => boolean {
  const exact = new Set<string>();
  const ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  list.forEach((entry, i) => {
    if (typeof entry !== 'string') throw new ConfigError(`${option}[${i}]`, 'an IP address or CIDR range string', entry);
    if (entry.includes('/')) {
      try {
        ranges.push(ipaddr.parseCIDR(entry));
      } catch {
        throw new ConfigError(`${option}[${i}]`, 'a CIDR range such as "10.0.0.0/8"', entry);
      }
      return;
    }
    const c = canonical(entry);
    if (c === undefined) throw new ConfigError(`${option}[${i}]`, 'an IP address', entry);
    exact.add(c);
  });
  return (ip) => {
    if (ip === undefined) return false;
    if (exact.has(ip)) return true;
    if (ranges.length === 0 && ip.indexOf(':') === -1) return false;
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = ipaddr.process(ip);
    } catch {
      return false;
    }
    if (exact.size > 0 && exact.has(text(addr))) return true;
    for (const range of ranges) if (addr.kind() === range[0].kind() && addr.match(range)) return true;
    return false;
  };
}
