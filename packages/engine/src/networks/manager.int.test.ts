/**
 * The networking layer on its own, without the container runtime: setup() makes a namespace, and busybox
 * processes started in it with `nsenter --net` stand in for containers. What fails here is networking's
 * fault, not runc's or conmon's.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EngineError } from '../errors';
import { type EngineEvent, EventBus } from '../events';
import { testNetworkOptions } from '../testing/network';
import { macFor } from './ipam';
import { NetworkManager } from './manager';
import type { NetworkSetupRequest, NetworkSetupResult } from './types';

const tag = randomBytes(2).toString('hex');
const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox';

function run(file: string, args: string[], timeoutMs = 10_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs }, (error, stdout, stderr) =>
      resolve({
        code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
        out: stdout + stderr,
      }),
    );
  });
}

/** busybox inside a namespace: the stand-in for a process in a container. */
function inNs(netns: string, args: string[], timeoutMs?: number): Promise<{ code: number; out: string }> {
  return run('nsenter', [`--net=${netns}`, busybox, ...args], timeoutMs);
}

function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port }, () => socket.end('GET /marker HTTP/1.0\r\n\r\n'));
    let data = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (d) => {
      data += d.toString();
    });
    socket.once('error', reject);
    socket.once('close', () => resolve(data));
  });
}

function linkNames(args: string[] = []): string[] {
  return (
    JSON.parse(execFileSync('ip', ['-j', 'link', 'show', ...args]).toString() || '[]') as Array<{
      ifname: string;
    }>
  ).map((l) => l.ifname);
}

function firewall(): string {
  let out = execFileSync('iptables-save').toString();
  // nftables is only worth reading where the nft tool exists (netavark 1.4 drives iptables here).
  try {
    out += execFileSync('nft', ['list', 'ruleset'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {}
  return out;
}

async function mountsUnder(dir: string): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(dir));
}

function hostAddress(): string | undefined {
  const links = JSON.parse(
    execFileSync('ip', ['-j', '-4', 'addr', 'show', 'scope', 'global']).toString(),
  ) as Array<{ ifname: string; addr_info: Array<{ local: string }> }>;
  return links.find((l) => !l.ifname.startsWith('bt'))?.addr_info[0]?.local;
}

describe('NetworkManager without the container runtime', () => {
  let root: string;
  let www: string;
  let manager: NetworkManager;
  let events: EngineEvent[] = [];
  const bus = new EventBus();
  bus.on((e) => events.push(e));
  const options = testNetworkOptions();
  const children: ChildProcess[] = [];
  const containers = new Set<string>();

  const open = () =>
    NetworkManager.open({ dataRoot: root, runRoot: join(root, 'run'), events: bus, ...options });

  const id = () => randomBytes(32).toString('hex');

  async function setup(
    request: Partial<NetworkSetupRequest> & Pick<NetworkSetupRequest, 'endpoints'>,
  ): Promise<NetworkSetupResult & { id: string; name: string }> {
    const containerId = request.containerId ?? id();
    const containerName = request.containerName ?? `bt-c-${containerId.slice(0, 6)}`;
    containers.add(containerId);
    const result = await manager.setup({
      containerId,
      containerName,
      hostname: containerId.slice(0, 12),
      portBindings: [],
      ...request,
    });
    return { ...result, id: containerId, name: containerName };
  }

  /** A long-running busybox in the namespace, stopped by its pid in afterEach. */
  async function daemon(netns: string, args: string[], ready: () => Promise<boolean>): Promise<ChildProcess> {
    const child = spawn('nsenter', [`--net=${netns}`, busybox, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    await expect.poll(ready, { timeout: 5000, interval: 100 }).toBe(true);
    return child;
  }

  const listening =
    (netns: string, port: number, proto: 'tcp' | 'udp' = 'tcp') =>
    async () =>
      (await inNs(netns, ['netstat', proto === 'tcp' ? '-ltn' : '-lun'])).out.includes(`:${port} `);

  const httpd = (netns: string) =>
    daemon(netns, ['httpd', '-f', '-p', '80', '-h', www], listening(netns, 80));

  /** One HTTP request from inside a namespace, by address. */
  const fetchFrom = async (netns: string, ip: string) =>
    (
      await inNs(netns, [
        'sh',
        '-c',
        `printf 'GET /marker HTTP/1.0\\r\\n\\r\\n' | ${busybox} nc -w 2 ${ip} 80`,
      ])
    ).out;

  /** What a network's DNS server answers for a name, or undefined. */
  async function lookup(
    netns: string,
    name: string,
    server: string,
    timeoutMs = 8000,
  ): Promise<string | undefined> {
    const { code, out } = await inNs(netns, ['nslookup', name, server], timeoutMs);
    if (code !== 0) return undefined;
    // The answer follows the "Name:" line; the lines before it are the server's own address.
    const answer = out.slice(out.indexOf('Name:'));
    return /Address(?: 1)?:\s+(\d+\.\d+\.\d+\.\d+)/.exec(answer)?.[1];
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-netmgr-'));
    www = join(root, 'www');
    await mkdir(www);
    await writeFile(join(www, 'marker'), `bt-marker-${tag}\n`);
    manager = await open();
  });

  afterEach(async () => {
    for (const child of children.splice(0))
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('close', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    for (const containerId of containers) await manager.teardown(containerId).catch(() => {});
    containers.clear();
    for (const n of await manager.list({ type: ['custom'] })) await manager.remove(n.Id).catch(() => {});
  });

  afterAll(async () => {
    await manager?.releaseIdle().catch(() => {});
    if (root) {
      // A namespace still mounted under the root would make rm fail half-way.
      for (const point of await mountsUnder(root)) await run('umount', ['-l', point]);
      await rm(root, { recursive: true, force: true });
    }
  });

  it('resolves and reaches containers by name, alias and short id on a user network, not across networks', async () => {
    events = [];
    const a = await manager.create({ Name: `bt-a-${tag}`, Labels: { 'bt.test': '1' } });
    const b = await manager.create({ Name: `bt-b-${tag}` });
    const server = await setup({
      containerName: `bt-srv-${tag}`,
      endpoints: [{ network: `bt-a-${tag}`, aliases: ['bt-alias'] }],
    });
    const client = await setup({ endpoints: [{ network: `bt-a-${tag}`, aliases: [] }] });
    const outsider = await setup({ endpoints: [{ network: `bt-b-${tag}`, aliases: [] }] });
    await httpd(server.netnsPath);

    const serverIp = server.endpoints[0]?.ipAddress as string;
    expect(server.netnsPath).toBe(join(root, 'run', 'netns', server.id));
    expect(server.endpoints[0]).toMatchObject({
      network: `bt-a-${tag}`,
      networkId: a.Id,
      prefixLength: expect.any(Number),
      // Docker's MAC for the address, so a reused address never meets a stale neighbour entry.
      macAddress: macFor(serverIp),
      aliases: ['bt-alias'],
    });
    // User-defined networks answer names themselves: the container's resolv.conf points at that server.
    const dns = client.dnsServers[0] as string;
    expect(client.dnsServers).toHaveLength(1);
    for (const name of [`bt-srv-${tag}`, 'bt-alias', server.id.slice(0, 12)])
      expect(await lookup(client.netnsPath, name, dns), name).toBe(serverIp);
    expect(await fetchFrom(client.netnsPath, serverIp)).toContain(`bt-marker-${tag}`);

    // The other network: neither the name nor the address.
    const otherDns = outsider.dnsServers[0] as string;
    expect(otherDns).not.toBe(dns);
    expect(await lookup(outsider.netnsPath, outsider.name, otherDns)).toBe(outsider.endpoints[0]?.ipAddress);
    // aardvark forwards unknown names upstream, which this host cannot reach: no answer, or a late NXDOMAIN.
    expect(await lookup(outsider.netnsPath, `bt-srv-${tag}`, otherDns, 3000)).toBeUndefined();
    expect(await fetchFrom(outsider.netnsPath, serverIp)).not.toContain('bt-marker');

    const inspect = await manager.inspect(`bt-a-${tag}`);
    expect(inspect).toMatchObject({
      Name: `bt-a-${tag}`,
      Id: a.Id,
      Scope: 'local',
      Driver: 'bridge',
      EnableIPv6: false,
      Internal: false,
      Attachable: false,
      Labels: { 'bt.test': '1' },
      IPAM: { Driver: 'default', Config: [{ Subnet: expect.any(String), Gateway: expect.any(String) }] },
    });
    expect(inspect.Containers[server.id]).toEqual({
      Name: `bt-srv-${tag}`,
      EndpointID: server.endpoints[0]?.endpointId,
      MacAddress: server.endpoints[0]?.macAddress,
      IPv4Address: `${serverIp}/${server.endpoints[0]?.prefixLength}`,
      IPv6Address: '',
    });
    expect(await manager.inspect(a.Id.slice(0, 10))).toMatchObject({ Name: `bt-a-${tag}` });
    const bridge = `bt-${a.Id.slice(0, 12)}`;
    expect(linkNames()).toEqual(expect.arrayContaining([bridge, `bt-${b.Id.slice(0, 12)}`]));

    // Attached containers hold their network.
    const refused = await manager.remove(`bt-a-${tag}`).catch((e: unknown) => e);
    expect(EngineError.is(refused, 'conflict')).toBe(true);
    expect((refused as Error).message).toMatch(/has active endpoints/);

    const byType = (action: string) =>
      events.filter((e) => e.Type === 'network' && e.Action === action).map((e) => e.Actor.ID);
    expect(byType('create')).toEqual(expect.arrayContaining([a.Id, b.Id]));
    expect(byType('connect').filter((x) => x === a.Id)).toHaveLength(2);
  });

  it('gives the default bridge no DNS server, and lists host and none like Docker', async () => {
    const c = await setup({ endpoints: [{ network: 'bridge', aliases: ['ignored'] }] });
    expect(c.dnsServers).toEqual([]);
    const names = (await manager.list()).map((n) => n.Name);
    expect(names).toEqual(expect.arrayContaining(['bridge', 'host', 'none']));
    expect(await manager.list({ type: ['builtin'] })).toHaveLength(3);
    const bridge = await manager.inspect('bridge');
    expect(bridge.Options['com.docker.network.bridge.name']).toBe(options.defaultBridgeName);
    expect(bridge.Containers[c.id]?.IPv4Address).toMatch(/^10\./);
    expect((await manager.inspect('host')).Driver).toBe('host');
    expect((await manager.inspect('none')).Driver).toBe('null');
  });

  it('publishes TCP on 127.0.0.1 and on the host address, with a random host port', async () => {
    const c = await setup({
      endpoints: [{ network: 'bridge', aliases: [] }],
      portBindings: [
        { containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 0 },
        { containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 },
      ],
    });
    await httpd(c.netnsPath);
    const [everywhere, loopback] = c.portBindings;
    expect(everywhere).toMatchObject({ containerPort: 80, protocol: 'tcp', hostIp: '' });
    expect(loopback).toMatchObject({ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1' });
    expect(everywhere?.hostPort).toBeGreaterThan(1024);
    expect(loopback?.hostPort).toBeGreaterThan(1024);
    expect(loopback?.hostPort).not.toBe(everywhere?.hostPort);

    expect(await httpGet('127.0.0.1', everywhere?.hostPort as number)).toContain(`bt-marker-${tag}`);
    expect(await httpGet('127.0.0.1', loopback?.hostPort as number)).toContain(`bt-marker-${tag}`);
    const address = hostAddress();
    if (address) {
      expect(await httpGet(address, everywhere?.hostPort as number)).toContain(`bt-marker-${tag}`);
      // Bound to 127.0.0.1 only: the host's other addresses do not forward.
      await expect(httpGet(address, loopback?.hostPort as number)).rejects.toThrow();
    }
  });

  it('publishes UDP', async () => {
    const c = await setup({
      endpoints: [{ network: 'bridge', aliases: [] }],
      portBindings: [{ containerPort: 5353, protocol: 'udp', hostIp: '127.0.0.1', hostPort: 0 }],
    });
    const port = c.portBindings[0]?.hostPort as number;
    expect(port).toBeGreaterThan(0);
    // Debian's busybox nc has no UDP mode, so a tiny node echo server stands in for the container's service.
    const echo = `const s = require('node:dgram').createSocket('udp4');
      s.on('message', (m, r) => s.send(m, r.port, r.address));
      s.bind(5353, () => console.log('ready'));`;
    const server = spawn('nsenter', [`--net=${c.netnsPath}`, process.execPath, '-e', echo], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(server);
    await new Promise((resolve) => server.stdout?.once('data', resolve));
    let received = '';
    const socket = createSocket('udp4');
    socket.on('message', (m) => {
      received += m.toString();
    });
    try {
      // One datagram can be lost while the neighbour entry resolves; send until an echo comes back.
      await expect
        .poll(
          async () => {
            await new Promise<void>((resolve, reject) =>
              socket.send(`bt-udp-${tag}`, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
            );
            return received;
          },
          { timeout: 5000, interval: 250 },
        )
        .toContain(`bt-udp-${tag}`);
    } finally {
      socket.close();
    }
  });

  it('refuses a host port in use, on the host or by another container, and leaves nothing half set up', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const containerId = id();
      const error = await setup({
        containerId,
        endpoints: [{ network: 'bridge', aliases: [] }],
        portBindings: [{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: taken }],
      }).catch((e: unknown) => e);
      expect(EngineError.is(error, 'conflict')).toBe(true);
      expect((error as Error).message).toContain(
        `Bind for 127.0.0.1:${taken} failed: port is already allocated`,
      );
      expect(existsSync(join(root, 'run', 'netns', containerId))).toBe(false);
      expect(Object.keys((await manager.inspect('bridge')).Containers)).not.toContain(containerId);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }

    // netavark's DNAT leaves no listening socket, so the engine remembers what containers hold.
    const first = await setup({
      endpoints: [{ network: 'bridge', aliases: [] }],
      portBindings: [{ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 0 }],
    });
    const port = first.portBindings[0]?.hostPort as number;
    const second = await setup({
      endpoints: [{ network: 'bridge', aliases: [] }],
      portBindings: [{ containerPort: 81, protocol: 'tcp', hostIp: '', hostPort: port }],
    }).catch((e: unknown) => e);
    expect(EngineError.is(second, 'conflict')).toBe(true);
    // The same number over UDP is a different port.
    const udp = await setup({
      endpoints: [{ network: 'bridge', aliases: [] }],
      portBindings: [{ containerPort: 81, protocol: 'udp', hostIp: '', hostPort: port }],
    });
    expect(udp.portBindings[0]?.hostPort).toBe(port);
  });

  it('connects and disconnects a running container; DNS follows', async () => {
    await manager.create({ Name: `bt-c-${tag}` });
    const d = await manager.create({ Name: `bt-d-${tag}` });
    const server = await setup({
      containerName: `bt-dsrv-${tag}`,
      endpoints: [{ network: `bt-d-${tag}`, aliases: [] }],
    });
    await httpd(server.netnsPath);
    const serverIp = server.endpoints[0]?.ipAddress as string;
    const client = await setup({ endpoints: [{ network: `bt-c-${tag}`, aliases: [] }] });
    expect(await fetchFrom(client.netnsPath, serverIp)).not.toContain('bt-marker');

    events = [];
    const endpoint = await manager.connect(client.id, client.name, {
      network: `bt-d-${tag}`,
      aliases: ['bt-late'],
    });
    expect(endpoint).toMatchObject({ network: `bt-d-${tag}`, networkId: d.Id, aliases: ['bt-late'] });
    // /sys/class/net shows the mount namespace's view, the host's here; ip reads the netns itself.
    const ifaces = async () =>
      (
        JSON.parse((await run('nsenter', [`--net=${client.netnsPath}`, 'ip', '-j', 'link'])).out) as Array<{
          ifname: string;
        }>
      )
        .map((l) => l.ifname)
        .sort();
    expect(await ifaces()).toEqual(['eth0', 'eth1', 'lo']);
    expect(await fetchFrom(client.netnsPath, serverIp)).toContain(`bt-marker-${tag}`);
    const dDns = server.dnsServers[0] as string;
    expect(await lookup(server.netnsPath, 'bt-late', dDns)).toBe(endpoint.ipAddress);
    expect(await lookup(client.netnsPath, `bt-dsrv-${tag}`, dDns)).toBe(serverIp);
    expect(Object.keys((await manager.inspect(d.Id)).Containers).sort()).toEqual(
      [client.id, server.id].sort(),
    );
    const twice = await manager
      .connect(client.id, client.name, { network: `bt-d-${tag}`, aliases: [] })
      .catch((e: unknown) => e);
    expect(EngineError.is(twice)).toBe(true);

    await manager.disconnect(client.id, `bt-d-${tag}`);
    expect(await ifaces()).toEqual(['eth0', 'lo']);
    expect(await fetchFrom(client.netnsPath, serverIp)).not.toContain('bt-marker');
    expect(await lookup(server.netnsPath, 'bt-late', dDns, 3000)).toBeUndefined();
    expect(Object.keys((await manager.inspect(d.Id)).Containers)).toEqual([server.id]);
    expect(events.filter((e) => e.Type === 'network').map((e) => e.Action)).toEqual([
      'connect',
      'disconnect',
    ]);
  });

  // Once flaky (aardvark-dns 1.4 reloading on SIGHUP, a host's stale neighbour entry for a reused address):
  // the engine now restarts aardvark after each change and gives every address Docker's MAC.
  it('after a disconnect, the containers left on the network still resolve each other', async () => {
    await manager.create({ Name: `bt-k-${tag}` });
    await manager.create({ Name: `bt-l-${tag}` });
    const server = await setup({
      containerName: `bt-ksrv-${tag}`,
      endpoints: [{ network: `bt-k-${tag}`, aliases: [] }],
    });
    const other = await setup({ endpoints: [{ network: `bt-l-${tag}`, aliases: [] }] });
    await manager.connect(other.id, other.name, { network: `bt-k-${tag}`, aliases: [] });
    await manager.disconnect(other.id, `bt-k-${tag}`);
    expect(await lookup(server.netnsPath, `bt-ksrv-${tag}`, server.dnsServers[0] as string)).toBe(
      server.endpoints[0]?.ipAddress,
    );
  });

  it('leaves no veth, namespace, mount or rule behind after teardown and remove', async () => {
    const net = await manager.create({ Name: `bt-e-${tag}` });
    const subnet = (await manager.inspect(net.Id)).IPAM.Config[0]?.Subnet as string;
    const bridge = `bt-${net.Id.slice(0, 12)}`;
    const c = await setup({
      endpoints: [{ network: `bt-e-${tag}`, aliases: [] }],
      portBindings: [{ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 0 }],
    });
    const port = c.portBindings[0]?.hostPort as number;
    const veths = linkNames(['master', bridge]);
    expect(veths.length).toBeGreaterThanOrEqual(2); // the container's and the network keeper's
    expect(firewall()).toContain(subnet);
    expect(firewall()).toMatch(new RegExp(`--dport ${port}\\b`));
    expect(await mountsUnder(join(root, 'run', 'netns', c.id))).toHaveLength(1);

    events = [];
    await manager.teardown(c.id);
    containers.delete(c.id);
    expect(existsSync(c.netnsPath)).toBe(false);
    expect(await mountsUnder(join(root, 'run', 'netns', c.id))).toEqual([]);
    expect(existsSync(join(root, 'run', 'netavark', `${c.id}.json`))).toBe(false);
    expect(firewall()).not.toMatch(new RegExp(`--dport ${port}\\b`));
    expect(Object.keys((await manager.inspect(net.Id)).Containers)).toEqual([]);
    await manager.remove(net.Id);
    const left = linkNames();
    for (const veth of veths) expect(left).not.toContain(veth);
    expect(left).not.toContain(bridge);
    expect(firewall()).not.toContain(subnet);
    expect(firewall()).not.toContain(bridge);
    expect(await readdir(join(root, 'run', 'netns'))).not.toContain(`keeper-${net.Id.slice(0, 12)}`);
    expect(existsSync(join(root, 'networks', `${net.Id}.json`))).toBe(false);
    expect(events.filter((e) => e.Type === 'network').map((e) => e.Action)).toEqual([
      'disconnect',
      'destroy',
    ]);
    // A second teardown (the runtime's exit handler racing a remove) is harmless.
    await manager.teardown(c.id);
  });

  it('on the default bridge without ports, teardown leaves no veth behind without calling netavark', async () => {
    const c = await setup({ endpoints: [{ network: 'bridge', aliases: [] }] });
    const bridge = (await manager.inspect('bridge')).Options['com.docker.network.bridge.name'] as string;
    const before = linkNames(['master', bridge]);
    await manager.teardown(c.id);
    containers.delete(c.id);
    expect(existsSync(c.netnsPath)).toBe(false);
    // The kernel deletes the host end of the pair with the namespace, a moment later.
    await vi.waitFor(() => expect(linkNames(['master', bridge]).length).toBe(before.length - 1), {
      timeout: 5000,
    });
    expect(Object.keys((await manager.inspect('bridge')).Containers)).toEqual([]);
  });

  it('sweeps what a crashed engine left, keeping live containers', async () => {
    const net = await manager.create({ Name: `bt-f-${tag}` });
    const live = await setup({ endpoints: [{ network: `bt-f-${tag}`, aliases: [] }] });
    const dead = await setup({ endpoints: [{ network: `bt-f-${tag}`, aliases: [] }] });
    // A new manager over the same roots, as after an agent restart.
    manager = await open();
    await manager.sweep(new Set([live.id]));
    expect(existsSync(dead.netnsPath)).toBe(false);
    expect(existsSync(live.netnsPath)).toBe(true);
    expect(Object.keys((await manager.inspect(net.Id)).Containers)).toEqual([live.id]);
    expect(await lookup(live.netnsPath, live.name, live.dnsServers[0] as string)).toBe(
      live.endpoints[0]?.ipAddress,
    );
    expect(await lookup(live.netnsPath, dead.name, live.dnsServers[0] as string, 3000)).toBeUndefined();
  });

  it("another engine's same-named network leaving does not take this engine's port forwards with it", async () => {
    const c = await setup({
      endpoints: [{ network: 'bridge', aliases: [] }],
      portBindings: [{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 }],
    });
    await httpd(c.netnsPath);
    const port = c.portBindings[0]?.hostPort as number;
    expect(await httpGet('127.0.0.1', port)).toContain(`bt-marker-${tag}`);

    // A second engine on this host (an agent beside a test, say) whose default network is also `bridge`.
    const otherRoot = await mkdtemp(join(tmpdir(), 'bt-netmgr-other-'));
    try {
      const other = await NetworkManager.open({
        dataRoot: otherRoot,
        runRoot: join(otherRoot, 'run'),
        events: new EventBus(),
        ...testNetworkOptions(),
      });
      const otherId = id();
      try {
        await other.setup({
          containerId: otherId,
          containerName: 'bt-other',
          hostname: 'bt-other',
          endpoints: [{ network: 'bridge', aliases: [] }],
          portBindings: [{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 }],
        });
      } finally {
        // Its last container and its bridge keeper go: netavark's complete teardown of that network.
        await other.teardown(otherId);
        await other.releaseIdle();
      }
    } finally {
      for (const point of await mountsUnder(otherRoot)) await run('umount', ['-l', point]);
      await rm(otherRoot, { recursive: true, force: true });
    }
    expect(await httpGet('127.0.0.1', port)).toContain(`bt-marker-${tag}`);
  });

  it('persists networks as zod-checked JSON and skips damaged records', async () => {
    const net = await manager.create({
      Name: `bt-g-${tag}`,
      IPAM: { Config: [{ Subnet: '10.213.7.0/24' }] },
    });
    expect(net.Id).toMatch(/^[0-9a-f]{64}$/);
    const saved = JSON.parse(await readFile(join(root, 'networks', `${net.Id}.json`), 'utf8'));
    expect(saved).toMatchObject({ name: `bt-g-${tag}`, subnet: '10.213.7.0/24', gateway: '10.213.7.1' });
    await writeFile(join(root, 'networks', `${'e'.repeat(64)}.json`), '{"id":"nope"}');
    manager = await open();
    expect((await manager.list({ type: ['custom'] })).map((n) => n.Name)).toEqual([`bt-g-${tag}`]);
    await rm(join(root, 'networks', `${'e'.repeat(64)}.json`));
  });
});
