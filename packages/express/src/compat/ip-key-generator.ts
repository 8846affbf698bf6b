import { isIPv6 } from 'node:net';

/**
 * The key of a client address, as express-rate-limit 8 computes it: IPv4 as it is; an IPv4-mapped
 * IPv6 address (`::ffff:1.2.3.4`, any spelling) or a dotted IPv4-compatible one (`::1.2.3.4`) as
 * the IPv4 address; any other IPv6 address as its network of `ipv6Subnet` bits in CIDR form
 * (`2001:db8:1234:5600::/56`), because one customer usually holds a whole /56 or /64. With
 * `ipv6Subnet` `false` the address is returned unchanged.
 *
 * A custom `keyGenerator` that falls back to the address should return `ipKeyGenerator(req.ip)`.
 * @example
 * ipKeyGenerator('2001:db8:1234:5678::1'); // '2001:db8:1234:5600::/56'
 * ipKeyGenerator('::ffff:10.0.0.1'); // '10.0.0.1'
 */
export function ipKeyGenerator(ip: string, ipv6Subnet: number | false = 56): string {
  if (!isIPv6(ip)) return ip;
  const parts = parseIpv6(ip);
  const ipv4Prefix = parts[0] === 0 && parts[1] === 0 && parts[2] === 0 && parts[3] === 0 && parts[4] === 0;
  // Mapped is decided by the bits (`::ffff:102:304` is `::ffff:1.2.3.4`). The deprecated compatible
  // range is shared with `::1` and `::`, so there only the dotted notation marks an IPv4 address.
  if (ipv4Prefix && (parts[5] === 0xffff || (parts[5] === 0 && ip.includes('.')))) return dotted(parts);
  if (ipv6Subnet === false || ipv6Subnet === 0) return ip;
  if (!Number.isInteger(ipv6Subnet) || ipv6Subnet < 0 || ipv6Subnet > 128)
    throw new RangeError(`Expected \`ipv6Subnet\` to be an integer from 0 to 128 or false, got ${String(ipv6Subnet)}`);
  const masked = parts.map((part, i) => {
    const keep = Math.min(16, Math.max(0, ipv6Subnet - 16 * i));
    return keep === 0 ? 0 : part & ((0xffff << (16 - keep)) & 0xffff);
  });
  return `${compressed(masked)}/${ipv6Subnet}`;
}

/** The eight 16-bit groups of a valid IPv6 address (a zone id is dropped). */
function parseIpv6(text: string): number[] {
  const address = text.split('%')[0] as string;
  const [head = '', tail] = address.split('::');
  const groups = (s: string): number[] => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (g.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const left = groups(head);
  if (tail === undefined) return left;
  const right = groups(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function dotted(parts: readonly number[]): string {
  const hi = parts[6] ?? 0;
  const lo = parts[7] ?? 0;
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** RFC 5952 text: lower-case hex without leading zeros; the first longest run of two or more zero groups as `::`. */
function compressed(parts: readonly number[]): string {
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < parts.length; ) {
    if (parts[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < parts.length && parts[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    parts
      .slice(from, to)
      .map((p) => p.toString(16))
      .join(':');
  if (best === -1) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLength, 8)}`;
}
