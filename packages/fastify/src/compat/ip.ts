import { isIPv6 } from 'node:net';
import { normalizeIp } from '@ratekeeper/core/http';

/** The prefix length @fastify/rate-limit groups IPv6 clients by. */
export const DEFAULT_IPV6_SUBNET = 64;

/**
 * The key @fastify/rate-limit derives from a client address: IPv4 (and anything that is not IPv6)
 * lower-cased; IPv4-mapped IPv6 as the IPv4 address; other IPv6 as the first address of its
 * `ipv6Subnet` network in canonical RFC 5952 form (`2001:db8:abcd:12::`), or the whole address in
 * that form when `ipv6Subnet` is 128 or more. The masking is ratekeeper's own (`normalizeIp`),
 * without the `/64` suffix ratekeeper's keys carry.
 * @example
 * normalizeIP('2001:0DB8:ABCD:0012:0000:0000:0000:0001'); // '2001:db8:abcd:12::'
 * normalizeIP('::ffff:192.0.2.1'); // '192.0.2.1'
 */
export function normalizeIP(ip: string, ipv6Subnet: number = DEFAULT_IPV6_SUBNET): string {
  if (!isIPv6(ip)) return ip.toLowerCase();
  const whole = !(ipv6Subnet < 128);
  const key = normalizeIp(ip, whole ? false : Math.max(0, Math.trunc(ipv6Subnet)));
  const slash = key.lastIndexOf('/');
  return slash === -1 ? key : key.slice(0, slash);
}

/** `ipv6Subnet` as @fastify/rate-limit accepts it: a number from 0 to 128 (truncated), else 64. */
export function resolveIpv6Subnet(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 128 ? Math.trunc(value) : DEFAULT_IPV6_SUBNET;
}
