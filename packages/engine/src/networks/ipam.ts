/** IPv4 arithmetic for subnet pools and address allocation. */
import { z } from 'zod';

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`invalid IPv4 address: ${ip}`);
  return (
    (((parts[0] as number) << 24) |
      ((parts[1] as number) << 16) |
      ((parts[2] as number) << 8) |
      (parts[3] as number)) >>>
    0
  );
}

export function intToIp(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export interface Cidr {
  network: number;
  prefix: number;
}

export function parseCidr(text: string): Cidr {
  const [ip, prefixText] = text.split('/');
  const prefix = Number(prefixText);
  if (!ip || !Number.isInteger(prefix) || prefix < 8 || prefix > 30)
    throw new Error(`invalid subnet: ${text}`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ipToInt(ip) & mask) >>> 0, prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${intToIp(cidr.network)}/${cidr.prefix}`;
}

export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

export function contains(cidr: Cidr, ip: string): boolean {
  const value = ipToInt(ip);
  return value >= cidr.network && value < cidr.network + cidrSize(cidr);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const aEnd = a.network + cidrSize(a);
  const bEnd = b.network + cidrSize(b);
  return a.network < bEnd && b.network < aEnd;
}

/** Docker's default pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s. */
export function defaultPool(): Cidr[] {
  const out: Cidr[] = [];
  for (let second = 17; second <= 31; second++)
    out.push({ network: ipToInt(`172.${second}.0.0`), prefix: 16 });
  for (let third = 0; third < 256; third += 16)
    out.push({ network: ipToInt(`192.168.${third}.0`), prefix: 20 });
  return out;
}

/** The first pool subnet that overlaps nothing in use (host routes and addresses, other networks). */
export function pickSubnet(used: Cidr[], pool = defaultPool()): Cidr | undefined {
  return pool.find((candidate) => !used.some((u) => overlaps(candidate, u)));
}

/** Lowest free host address of the subnet, skipping network, gateway and broadcast. */
export function allocateAddress(cidr: Cidr, taken: Set<string>): string | undefined {
  const size = cidrSize(cidr);
  for (let offset = 1; offset < size - 1; offset++) {
    const ip = intToIp(cidr.network + offset);
    if (!taken.has(ip)) return ip;
  }
  return undefined;
}

/**
 * Docker's MAC for an address (02:42 and the four address bytes). Addresses are reused as soon as a container
 * leaves, and the host's neighbour cache keeps the old MAC for up to a minute: with a random MAC per
 * container, traffic from the host (port forwards, DNS answers) would go to the gone container meanwhile.
 */
export function macFor(ip: string): string {
  return ['02', '42', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

const routeListSchema = z.array(z.looseObject({ dst: z.string().optional(), type: z.string().optional() }));
const addrListSchema = z.array(
  z.looseObject({
    addr_info: z
      .array(z.looseObject({ family: z.string().optional(), local: z.string(), prefixlen: z.number() }))
      .optional(),
  }),
);

/** A host prefix widened to what parseCidr accepts; wider than /8 says nothing useful about a pool. */
function hostCidr(ip: string, prefix: number): Cidr | undefined {
  if (!Number.isInteger(prefix) || prefix < 8 || prefix > 32) return undefined;
  try {
    return parseCidr(`${ip}/${Math.min(prefix, 30)}`);
  } catch {
    return undefined;
  }
}

/**
 * Subnets the host already uses, from `ip -j -4 route show table all` and `ip -j -4 addr` output. Addresses
 * count too: one added with `noprefixroute` (or a /32 on a VPN) has no route of its own, yet a bridge
 * network over it would hijack its traffic. Unparseable output counts as nothing rather than failing create.
 */
export function hostSubnets(routesJson: string, addrsJson: string): Cidr[] {
  const out: Cidr[] = [];
  const routes = routeListSchema.safeParse(safeJson(routesJson));
  for (const route of routes.success ? routes.data : []) {
    if (!route.dst || route.dst === 'default' || route.type === 'broadcast') continue;
    const [ip, prefix] = route.dst.includes('/') ? route.dst.split('/') : [route.dst, '32'];
    const cidr = ip ? hostCidr(ip, Number(prefix)) : undefined;
    if (cidr) out.push(cidr);
  }
  const links = addrListSchema.safeParse(safeJson(addrsJson));
  for (const link of links.success ? links.data : [])
    for (const addr of link.addr_info ?? []) {
      if (addr.family !== undefined && addr.family !== 'inet') continue;
      const cidr = hostCidr(addr.local, addr.prefixlen);
      if (cidr) out.push(cidr);
    }
  return out;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
