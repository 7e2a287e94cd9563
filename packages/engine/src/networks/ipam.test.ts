import { describe, expect, it } from 'vitest';
import {
  allocateAddress,
  contains,
  defaultPool,
  formatCidr,
  hostSubnets,
  macFor,
  overlaps,
  parseCidr,
  pickSubnet,
} from './ipam';

const cidrs = (...texts: string[]) => texts.map(parseCidr);

describe('subnet pool', () => {
  it('follows Docker: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s', () => {
    const pool = defaultPool().map(formatCidr);
    expect(pool.slice(0, 2)).toEqual(['172.17.0.0/16', '172.18.0.0/16']);
    expect(pool[14]).toBe('172.31.0.0/16');
    expect(pool[15]).toBe('192.168.0.0/20');
    expect(pool.at(-1)).toBe('192.168.240.0/20');
    expect(pool).toHaveLength(15 + 16);
  });

  it('picks the first subnet that overlaps nothing in use', () => {
    expect(formatCidr(pickSubnet([]) as never)).toBe('172.17.0.0/16');
    // A host route inside 172.17 (docker0's usual /16, or a narrower one) rules the whole /16 out.
    expect(formatCidr(pickSubnet(cidrs('172.17.5.0/24')) as never)).toBe('172.18.0.0/16');
    // A wide route covers many pool entries at once.
    expect(formatCidr(pickSubnet(cidrs('172.16.0.0/12')) as never)).toBe('192.168.0.0/20');
    expect(formatCidr(pickSubnet(cidrs('172.16.0.0/12', '192.168.0.0/19')) as never)).toBe('192.168.32.0/20');
    expect(pickSubnet(cidrs('172.16.0.0/12', '192.168.0.0/16'))).toBeUndefined();
  });

  it('normalises, bounds and compares subnets', () => {
    expect(formatCidr(parseCidr('10.1.2.3/16'))).toBe('10.1.0.0/16');
    for (const bad of ['10.0.0.0/33', '10.0.0.0/7', '10.0.0/24', '300.0.0.0/16', '10.0.0.0', 'x/24'])
      expect(() => parseCidr(bad), bad).toThrow();
    expect(overlaps(parseCidr('10.0.0.0/24'), parseCidr('10.0.0.128/25'))).toBe(true);
    expect(overlaps(parseCidr('10.0.0.0/25'), parseCidr('10.0.0.128/25'))).toBe(false);
    expect(contains(parseCidr('10.0.0.0/24'), '10.0.0.255')).toBe(true);
    expect(contains(parseCidr('10.0.0.0/24'), '10.0.1.0')).toBe(false);
  });

  it('allocates the lowest free host address, never network or broadcast', () => {
    const net = parseCidr('10.9.0.0/29');
    expect(allocateAddress(net, new Set(['10.9.0.1']))).toBe('10.9.0.2');
    const all = new Set(['10.9.0.1', '10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    expect(allocateAddress(net, all)).toBeUndefined();
    all.delete('10.9.0.4');
    expect(allocateAddress(net, all)).toBe('10.9.0.4');
  });
});

describe('macFor', () => {
  it("is Docker's MAC for an address", () => {
    expect(macFor('172.17.0.2')).toBe('02:42:ac:11:00:02');
    expect(macFor('10.255.1.254')).toBe('02:42:0a:ff:01:fe');
  });
});

describe('host subnets from ip -j', () => {
  const routes = JSON.stringify([
    { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
    { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel' },
    { type: 'local', dst: '127.0.0.1', dev: 'lo', table: 'local' },
    { type: 'broadcast', dst: '192.0.2.255', dev: 'eth0', table: 'local' },
    { dst: '172.18.0.0/16', dev: 'br-x' },
    { dst: '0.0.0.0/1', dev: 'tun0' }, // VPN split default: too wide to mean a subnet
  ]);
  const addrs = JSON.stringify([
    { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
    // An address added with noprefixroute: no route of its own, still taken.
    { ifname: 'eth1', addr_info: [{ family: 'inet', local: '172.20.3.4', prefixlen: 16 }] },
    { ifname: 'wg0', addr_info: [{ family: 'inet', local: '192.168.7.9', prefixlen: 32 }] },
    { ifname: 'eth2' },
  ]);

  it('takes routes and addresses, skips default, broadcast and too-wide prefixes', () => {
    const found = hostSubnets(routes, addrs).map(formatCidr);
    expect(found).toEqual([
      '192.0.2.0/24',
      '127.0.0.0/30',
      '172.18.0.0/16',
      '127.0.0.0/8',
      '172.20.0.0/16',
      '192.168.7.8/30',
    ]);
    const picked = pickSubnet([...hostSubnets(routes, addrs), parseCidr('172.17.0.0/16')]);
    expect(formatCidr(picked as never)).toBe('172.19.0.0/16');
  });

  it('a /32 address takes its /20 out of the 192.168 pool', () => {
    const used = [...hostSubnets('[]', addrs), ...cidrs('172.16.0.0/12')];
    expect(formatCidr(pickSubnet(used) as never)).toBe('192.168.16.0/20');
    const wg = hostSubnets('[]', JSON.stringify([{ addr_info: [{ local: '192.168.16.1', prefixlen: 32 }] }]));
    expect(formatCidr(pickSubnet([...used, ...wg]) as never)).toBe('192.168.32.0/20');
  });

  it('counts unreadable output as nothing', () => {
    expect(hostSubnets('not json', '{"a":1}')).toEqual([]);
    expect(hostSubnets('[{"dst":"10.0.0.0/99"}]', '[]')).toEqual([]);
  });
});
