import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Which IP addresses count as public for a repository URL. Everything a packet to it could reach
 * inside the server's own networks (loopback, private, link-local, shared, the server's own
 * interfaces) is not, and neither is anything that is not ordinary unicast on the internet
 * (documentation, benchmarking, reserved, multicast, broadcast, transition prefixes that embed
 * an IPv4 address): a clone has no business there, and such ranges are often routed internally.
 */
const NOT_PUBLIC_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches the local host
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the broadcast address
];

/** IPv6 is judged by allowance: only global unicast (2000::/3), less these parts of it. */
const NOT_PUBLIC_IN_GLOBAL_V6: Array<[string, number]> = [
  ['2001::', 23], // IETF protocol assignments (Teredo, benchmarking, ORCHID…)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds an IPv4 address
  ['3fff::', 20], // documentation (RFC 9637)
];

const notPublic = new BlockList();
for (const [net, bits] of NOT_PUBLIC_V4) notPublic.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of NOT_PUBLIC_IN_GLOBAL_V6) notPublic.addSubnet(net, bits, 'ipv6');
const globalV6 = new BlockList();
globalV6.addSubnet('2000::', 3, 'ipv6');

export function familyOf(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

/**
 * One spelling per address: IPv6 compressed and lower-case, an IPv4-mapped IPv6 address
 * (::ffff:10.0.0.1, ::ffff:a00:1) as the IPv4 address it carries, a zone index dropped.
 */
export function canonicalAddress(address: string): string {
  const bare = address.split('%')[0] ?? address;
  if (isIP(bare) !== 6) return bare;
  const host = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return host;
  const hi = Number.parseInt(mapped[1] ?? '0', 16);
  const lo = Number.parseInt(mapped[2] ?? '0', 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** The addresses of the server's own interfaces, read at each check (they change with DHCP, VPNs…). */
export function serverAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .flatMap((i) => (i ? [canonicalAddress(i.address)] : []));
}

/** True when `address` is ordinary internet unicast and none of `own` (the server's addresses). */
export function isPublicAddress(address: string, own: readonly string[] = []): boolean {
  const a = canonicalAddress(address);
  if (!isIP(a) || own.some((o) => canonicalAddress(o) === a)) return false;
  if (familyOf(a) === 'ipv4') return !notPublic.check(a, 'ipv4');
  return globalV6.check(a, 'ipv6') && !notPublic.check(a, 'ipv6');
}
