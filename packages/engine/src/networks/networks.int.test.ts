import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import type { EngineEvent } from '../events';
import { loadBusybox } from '../testing/images';
import { testNetworkOptions } from '../testing/network';

const tag = randomBytes(2).toString('hex');

function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port }, () => socket.end('GET /hostname HTTP/1.0\r\n\r\n'));
    let data = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (d) => {
      data += d.toString();
    });
    socket.once('error', reject);
    socket.once('close', () => resolve(data));
  });
}

async function exec(engine: Engine, id: string, cmd: string[]): Promise<{ code: number; out: string }> {
  const exec = engine.containers.execCreate(id, { Cmd: cmd });
  const session = await engine.containers.execStart(exec.Id);
  let out = '';
  session.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  session.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { code: await session.exit, out };
}

function links(): string[] {
  return (JSON.parse(execFileSync('ip', ['-j', 'link']).toString()) as Array<{ ifname: string }>).map(
    (l) => l.ifname,
  );
}

function firewall(): string {
  return execFileSync('iptables-save').toString();
}

describe('networks on netavark + aardvark-dns', () => {
  let root: string;
  let engine: Engine;
  const network = testNetworkOptions();
  let events: EngineEvent[] = [];
  const web = (network: string, name: string, extra: Record<string, unknown> = {}) =>
    engine.containers.create(
      {
        Image: 'busybox',
        Cmd: ['httpd', '-f', '-p', '80', '-h', '/etc'],
        ...extra,
        HostConfig: { NetworkMode: network, ...((extra.HostConfig as object) ?? {}) },
      },
      { name },
    );

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-net-'));
    engine = await Engine.open({ dataRoot: root, ...network });
    engine.events.on((e) => events.push(e));
    await loadBusybox(engine);
  });
  afterEach(async () => {
    for (const c of engine.containers.list({ all: true }))
      await engine.containers.remove(c.Id, { force: true, volumes: true }).catch(() => {});
    for (const n of await engine.networks.list({ type: ['custom'] }))
      await engine.networks.remove(n.Id).catch(() => {});
  });
  afterAll(async () => {
    await engine?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('resolves containers by name and alias on a user network; other networks are unreachable', async () => {
    events = [];
    const net = await engine.networks.create({ Name: `bt-a-${tag}`, Labels: { 'bt.test': '1' } });
    await engine.networks.create({ Name: `bt-b-${tag}` });
    const server = await web(`bt-a-${tag}`, `bt-srv-${tag}`, {
      NetworkingConfig: { EndpointsConfig: { [`bt-a-${tag}`]: { Aliases: ['bt-alias'] } } },
    });
    await engine.containers.start(server.Id);
    const ip = engine.containers.inspect(server.Id).NetworkSettings as {
      Networks: Record<string, { IPAddress: string }>;
    };
    const serverIp = ip.Networks[`bt-a-${tag}`]?.IPAddress as string;
    expect(serverIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const client = await engine.containers.create(
      {
        Image: 'busybox',
        Cmd: [
          'sh',
          '-c',
          `for h in bt-srv-${tag} bt-alias ${server.Id.slice(0, 12)}; do printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 $h 80 | tail -1; done`,
        ],
        HostConfig: { NetworkMode: `bt-a-${tag}` },
      },
      { name: `bt-cli-${tag}` },
    );
    await engine.containers.start(client.Id);
    expect((await engine.containers.wait(client.Id)).StatusCode).toBe(0);
    let text = '';
    for await (const e of engine.containers.logs(client.Id, { stdout: true, stderr: true, follow: false }))
      text += e.data;
    expect(text.trim().split('\n')).toEqual([
      server.Id.slice(0, 12),
      server.Id.slice(0, 12),
      server.Id.slice(0, 12),
    ]);

    const outsider = await engine.containers.create({
      Image: 'busybox',
      Cmd: [
        'sh',
        '-c',
        `nslookup bt-srv-${tag} >/dev/null 2>&1 && echo resolved; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${serverIp} 80 >/dev/null 2>&1 && echo reached; echo done`,
      ],
      HostConfig: { NetworkMode: `bt-b-${tag}` },
    });
    await engine.containers.start(outsider.Id);
    await engine.containers.wait(outsider.Id);
    text = '';
    for await (const e of engine.containers.logs(outsider.Id, { stdout: true, stderr: true, follow: false }))
      text += e.data;
    expect(text).toBe('done\n');

    const inspect = await engine.networks.inspect(`bt-a-${tag}`);
    expect(inspect).toMatchObject({
      Name: `bt-a-${tag}`,
      Id: net.Id,
      Driver: 'bridge',
      Labels: { 'bt.test': '1' },
    });
    expect(inspect.Containers[server.Id]).toMatchObject({
      Name: `bt-srv-${tag}`,
      IPv4Address: expect.stringMatching(`^${serverIp}/`),
    });
    await expect(engine.networks.remove(`bt-a-${tag}`)).rejects.toThrow(/has active endpoints/);
    expect(events.filter((e) => e.Type === 'network').map((e) => e.Action)).toEqual(
      expect.arrayContaining(['create', 'connect', 'disconnect']),
    );
  });

  it('publishes TCP on 127.0.0.1 and on all addresses, with random ports; a taken port is a clear error', async () => {
    const fixed = await web('bridge', `bt-pub-${tag}`, {
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    });
    await engine.containers.start(fixed.Id);
    const ports = (
      engine.containers.inspect(fixed.Id).NetworkSettings as {
        Ports: Record<string, Array<{ HostIp: string; HostPort: string }>>;
      }
    ).Ports;
    const published = ports['80/tcp']?.[0];
    expect(published?.HostIp).toBe('127.0.0.1');
    const port = Number(published?.HostPort);
    expect(port).toBeGreaterThan(0);
    expect(await httpGet('127.0.0.1', port)).toContain(fixed.Id.slice(0, 12));
    expect(engine.containers.list({ filters: { id: [fixed.Id] } })[0]?.Ports).toEqual([
      { IP: '127.0.0.1', PrivatePort: 80, PublicPort: port, Type: 'tcp' },
    ]);

    // Published on all addresses: reachable on the host's own non-loopback address too.
    const everywhere = await web('bridge', `bt-pub-all-${tag}`, {
      HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '' }] } },
    });
    await engine.containers.start(everywhere.Id);
    const allPort = Number(
      (
        engine.containers.inspect(everywhere.Id).NetworkSettings as {
          Ports: Record<string, Array<{ HostPort: string }>>;
        }
      ).Ports['80/tcp']?.[0]?.HostPort,
    );
    const hostAddress = (
      JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show', 'scope', 'global']).toString()) as Array<{
        ifname: string;
        addr_info: Array<{ local: string }>;
      }>
    ).find((i) => !i.ifname.startsWith('bt'))?.addr_info[0]?.local;
    expect(await httpGet('127.0.0.1', allPort)).toContain(everywhere.Id.slice(0, 12));
    if (hostAddress) expect(await httpGet(hostAddress, allPort)).toContain(everywhere.Id.slice(0, 12));

    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const clash = await web('bridge', `bt-clash-${tag}`, {
        HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(taken) }] } },
      });
      await expect(engine.containers.start(clash.Id)).rejects.toThrow(
        `Bind for 127.0.0.1:${taken} failed: port is already allocated`,
      );
      expect(engine.containers.inspect(clash.Id).State.Running).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('publishes UDP: a datagram to the host port arrives in the container', async () => {
    const { Id } = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['sleep', '1000'],
      HostConfig: { PortBindings: { '5353/udp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    });
    await engine.containers.start(Id);
    const port = Number(
      (
        engine.containers.inspect(Id).NetworkSettings as {
          Ports: Record<string, Array<{ HostPort: string }>>;
        }
      ).Ports['5353/udp']?.[0]?.HostPort,
    );
    // Nothing listens in the container, so the kernel counts each arriving datagram under Udp NoPorts.
    const noPorts = async () => {
      const { out } = await exec(engine, Id, ['cat', '/proc/net/snmp']);
      const lines = out.split('\n').filter((l) => l.startsWith('Udp:'));
      const header = lines[0]?.split(/\s+/) ?? [];
      const values = lines[1]?.split(/\s+/) ?? [];
      return Number(values[header.indexOf('NoPorts')]);
    };
    const before = await noPorts();
    const socket = createSocket('udp4');
    try {
      // UDP may drop a datagram (a neighbour entry being resolved on a busy host), so send until one counts.
      await expect
        .poll(
          async () => {
            await new Promise<void>((resolve, reject) =>
              socket.send('ping', port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
            );
            return noPorts();
          },
          { timeout: 5000, interval: 250 },
        )
        .toBeGreaterThan(before);
    } finally {
      socket.close();
    }
  });

  it('connects and disconnects a running container; DNS follows', async () => {
    await engine.networks.create({ Name: `bt-c-${tag}` });
    await engine.networks.create({ Name: `bt-d-${tag}` });
    const server = await web(`bt-d-${tag}`, `bt-dsrv-${tag}`);
    await engine.containers.start(server.Id);
    const { Id } = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['sleep', '1000'],
      HostConfig: { NetworkMode: `bt-c-${tag}` },
    });
    await engine.containers.start(Id);
    const probe = [
      'sh',
      '-c',
      `printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 2 bt-dsrv-${tag} 80 | tail -1`,
    ];
    expect((await exec(engine, Id, probe)).out).not.toContain(server.Id.slice(0, 12));
    await engine.containers.connectNetwork(Id, `bt-d-${tag}`, { aliases: ['bt-late'] });
    const networks = (
      engine.containers.inspect(Id).NetworkSettings as { Networks: Record<string, { IPAddress: string }> }
    ).Networks;
    expect(Object.keys(networks).sort()).toEqual([`bt-c-${tag}`, `bt-d-${tag}`]);
    expect(networks[`bt-d-${tag}`]?.IPAddress).toMatch(/^\d+\./);
    expect((await exec(engine, Id, probe)).out).toContain(server.Id.slice(0, 12));
    await engine.containers.disconnectNetwork(Id, `bt-d-${tag}`);
    expect((await exec(engine, Id, probe)).out).not.toContain(server.Id.slice(0, 12));
    expect((await exec(engine, Id, ['ls', '/sys/class/net'])).out.trim().split('\n').sort()).toEqual([
      'eth0',
      'lo',
    ]);
  });

  it('leaves no link, namespace, rule or DNS entry behind once containers and networks are gone', async () => {
    const net = await engine.networks.create({ Name: `bt-e-${tag}` });
    const subnet = (await engine.networks.inspect(net.Id)).IPAM.Config[0]?.Subnet as string;
    const { Id } = await web(`bt-e-${tag}`, `bt-esrv-${tag}`, {
      HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '' }] } },
    });
    await engine.containers.start(Id);
    const bridge = `bt-${net.Id.slice(0, 12)}`;
    expect(links()).toContain(bridge);
    expect(firewall()).toContain(subnet);
    // The container's namespace, and the keeper that holds the network's bridge while it is in use.
    expect(await readdir(join(root, 'run', 'netns'))).toEqual(
      expect.arrayContaining([Id, `keeper-${net.Id.slice(0, 12)}`]),
    );
    await engine.containers.remove(Id, { force: true });
    await engine.networks.remove(net.Id);
    expect(links()).not.toContain(bridge);
    expect(firewall()).not.toContain(subnet);
    expect(firewall()).not.toContain(bridge);
    const left = await readdir(join(root, 'run', 'netns'));
    expect(left).not.toContain(Id);
    expect(left).not.toContain(`keeper-${net.Id.slice(0, 12)}`);
    expect(existsSync(join(root, 'run', 'netavark', `${Id}.json`))).toBe(false);
  });

  it('sweeps what a crashed engine left: a container gone while the engine was down', async () => {
    const net = await engine.networks.create({ Name: `bt-f-${tag}` });
    const subnet = (await engine.networks.inspect(net.Id)).IPAM.Config[0]?.Subnet as string;
    const { Id } = await web(`bt-f-${tag}`, `bt-fsrv-${tag}`);
    await engine.containers.start(Id);
    const pid = engine.containers.inspect(Id).State.Pid;
    await engine.close();
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    engine = await Engine.open({ dataRoot: root, ...network });
    engine.events.on((e) => events.push(e));
    expect(engine.containers.inspect(Id).State.Running).toBe(false);
    expect(await readdir(join(root, 'run', 'netns'))).not.toContain(Id);
    expect(Object.keys((await engine.networks.inspect(net.Id)).Containers)).toEqual([]);
    await engine.containers.remove(Id);
    await engine.networks.remove(net.Id);
    expect(firewall()).not.toContain(subnet);
    expect(await readdir(join(root, 'run', 'netns'))).not.toContain(`keeper-${net.Id.slice(0, 12)}`);
  });

  it('refuses bad network requests clearly', async () => {
    await expect(engine.networks.create({ Name: 'bridge' })).rejects.toThrow(/pre-defined network/);
    await expect(engine.networks.create({ Name: 'bad name' })).rejects.toThrow(/invalid network name/);
    await expect(
      engine.networks.create({ Name: `bt-g-${tag}`, IPAM: { Config: [{ Subnet: '10.0.0.0/33' }] } }),
    ).rejects.toThrow(/invalid subnet/);
    await engine.networks.create({ Name: `bt-g-${tag}`, IPAM: { Config: [{ Subnet: '10.213.0.0/24' }] } });
    await expect(engine.networks.create({ Name: `bt-g-${tag}` })).rejects.toThrow(/already exists/);
    await expect(
      engine.networks.create({ Name: `bt-h-${tag}`, IPAM: { Config: [{ Subnet: '10.213.0.128/25' }] } }),
    ).rejects.toThrow(/overlaps/);
    await expect(
      engine.containers.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'bt-nope' } }),
    ).rejects.toThrow('network bt-nope not found');
    await expect(engine.networks.remove('host')).rejects.toThrow(/pre-defined/);
    expect((await engine.networks.prune()).NetworksDeleted).toContain(`bt-g-${tag}`);
  });
});
