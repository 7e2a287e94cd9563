/**
 * Networks on netavark + aardvark-dns, the plumbing podman uses: netavark creates the bridge, the veth pair,
 * the firewall rules and the port forwards for one container network namespace at a time, and starts
 * aardvark-dns for networks with DNS. The engine keeps what netavark does not: the network definitions,
 * address allocation (handed to netavark as static IPs) and which container is attached where.
 *
 * On disk: `<dataRoot>/networks/<id>.json` per network (with its endpoints); under the run root
 * `netns/<container id>` (the bind-mounted namespace), `netavark/<container id>.json` (the options a
 * container was set up with, replayed for teardown) and `netavark/config` (netavark's and aardvark's state).
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { EngineError } from '../errors';
import type { EventBus } from '../events';
import {
  isPredefined,
  matchesNetworkFilters,
  matchesPruneFilters,
  parseNetworkFilters,
  parseNetworkPruneFilters,
  predefinedNetworks,
} from './filters';
import {
  allocateAddress,
  type Cidr,
  contains,
  formatCidr,
  hostSubnets,
  intToIp,
  macFor,
  overlaps,
  parseCidr,
  pickSubnet,
} from './ipam';
import type {
  ContainerNetworking,
  EndpointRequest,
  EndpointResult,
  NetworkSetupRequest,
  NetworkSetupResult,
  PortBinding,
} from './types';

const netavarkCandidates = ['/usr/lib/podman/netavark', '/usr/libexec/podman/netavark', '/usr/bin/netavark'];
const aardvarkCandidates = [
  '/usr/lib/podman/aardvark-dns',
  '/usr/libexec/podman/aardvark-dns',
  '/usr/bin/aardvark-dns',
];
const networkNameRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export { predefinedNetworks };

const hostNetworkLock = '/run/lock/berth-netavark.lock';

const endpointSchema = z.object({
  containerName: z.string(),
  ip: z.string(),
  mac: z.string(),
  aliases: z.array(z.string()),
  endpointId: z.string(),
  interfaceName: z.string(),
});

const networkRecordSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  name: z.string(),
  created: z.string(),
  subnet: z.string(),
  gateway: z.string(),
  internal: z.boolean(),
  labels: z.record(z.string(), z.string()),
  options: z.record(z.string(), z.string()),
  interfaceName: z.string(),
  dnsEnabled: z.boolean(),
  endpoints: z.record(z.string(), endpointSchema),
  /** The address of the network's keeper endpoint while it exists (see #ensureKeeper). */
  keeper: z.string().optional(),
});
type NetworkRecord = z.infer<typeof networkRecordSchema>;

export interface NetworkCreateRequest {
  Name: string;
  Driver?: string;
  Internal?: boolean;
  Labels?: Record<string, string> | null;
  Options?: Record<string, string> | null;
  IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> | null } | null;
  CheckDuplicate?: boolean;
}

export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local';
  Driver: string;
  EnableIPv6: boolean;
  IPAM: {
    Driver: 'default';
    Options: Record<string, string> | null;
    Config: Array<{ Subnet: string; Gateway: string }>;
  };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<
    string,
    { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }
  >;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

const netavarkNetworkSchema = z.object({
  dns_enabled: z.boolean(),
  driver: z.literal('bridge'),
  id: z.string(),
  internal: z.boolean(),
  ipv6_enabled: z.boolean(),
  name: z.string(),
  network_interface: z.string(),
  subnets: z.array(z.object({ subnet: z.string(), gateway: z.string() })),
  ipam_options: z.object({ driver: z.literal('host-local') }),
  options: z.record(z.string(), z.string()),
});
type NetavarkNetwork = z.infer<typeof netavarkNetworkSchema>;

/** What netavark gets on stdin; persisted per container so teardown replays exactly what setup did. */
const netavarkOptionsSchema = z.object({
  container_id: z.string(),
  container_name: z.string(),
  port_mappings: z.array(
    z.object({
      host_ip: z.string(),
      container_port: z.number().int(),
      host_port: z.number().int(),
      range: z.number().int(),
      protocol: z.string(),
    }),
  ),
  networks: z.record(
    z.string(),
    z.object({
      static_ips: z.array(z.string()),
      static_mac: z.string().optional(),
      aliases: z.array(z.string()),
      interface_name: z.string(),
    }),
  ),
  network_info: z.record(z.string(), netavarkNetworkSchema),
});
type NetavarkOptions = z.infer<typeof netavarkOptionsSchema>;

async function readOptions(path: string): Promise<NetavarkOptions> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new EngineError('not_found', 'the container has no network setup (is it running?)');
  }
  try {
    return netavarkOptionsSchema.parse(JSON.parse(text));
  } catch {
    throw new EngineError('failed', `damaged network state: ${path}`);
  }
}

const statusSchema = z.record(
  z.string(),
  z.looseObject({
    dns_server_ips: z.array(z.string()).nullish(),
    interfaces: z.record(
      z.string(),
      z.looseObject({
        mac_address: z.string(),
        subnets: z.array(z.looseObject({ ipnet: z.string(), gateway: z.string().nullish() })).nullish(),
      }),
    ),
  }),
);

function findBinary(candidates: string[], name: string): string {
  const found = candidates.find((path) => existsSync(path));
  if (!found)
    throw new EngineError('unavailable', `${name} is not installed (apt-get install netavark aardvark-dns)`);
  return found;
}

function run(file: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: 60_000, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const detail = (stdout.trim() || stderr.trim() || error.message).replace(
            /^\{"error":"(.*)"\}$/s,
            '$1',
          );
          reject(
            new EngineError(
              'failed',
              `netavark ${args.find((a) => a === 'setup' || a === 'teardown') ?? ''}: ${detail}`,
            ),
          );
        } else resolve(stdout);
      },
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

function ipJson(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('ip', ['-j', '-4', ...args], (error, stdout) => resolve(error ? '[]' : stdout));
  });
}

async function hostRoutes(): Promise<Cidr[]> {
  const [routes, addrs] = await Promise.all([
    ipJson(['route', 'show', 'table', 'all']),
    ipJson(['addr', 'show']),
  ]);
  return hostSubnets(routes, addrs);
}

/** IPv4 UDP sockets bound in the host's namespace, as `a.b.c.d:port` (from /proc/net/udp). */
async function udpListeners(): Promise<Set<string>> {
  const out = new Set<string>();
  const text = await readFile('/proc/net/udp', 'utf8').catch(() => '');
  for (const line of text.split('\n').slice(1)) {
    const local = line.trim().split(/\s+/)[1];
    const [hexIp, hexPort] = local?.split(':') ?? [];
    if (!hexIp || !hexPort || hexIp.length !== 8) continue;
    // The kernel prints the address as a host-order (little-endian here) 32-bit number.
    const bytes = [6, 4, 2, 0].map((at) => Number.parseInt(hexIp.slice(at, at + 2), 16));
    out.add(`${bytes.join('.')}:${Number.parseInt(hexPort, 16)}`);
  }
  return out;
}

/** Whether pid is still our aardvark-dns (not a recycled pid of something else). */
async function aardvarkAlive(pid: number, binary: string): Promise<boolean> {
  try {
    const exe = await readlink(`/proc/${pid}/exe`);
    return exe === binary || exe.endsWith('/aardvark-dns');
  } catch {
    return false;
  }
}

/** A free port on the host, as the kernel hands it out for an ephemeral bind. */
function freePort(protocol: 'tcp' | 'udp', hostIp: string): Promise<number> {
  return new Promise((resolve, reject) => {
    if (protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind(0, hostIp || '0.0.0.0', () => {
        const { port } = socket.address();
        socket.close(() => resolve(port));
      });
      return;
    }
    const server: Server = createServer();
    server.once('error', reject);
    server.listen(0, hostIp || '0.0.0.0', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something on the host already listens on the port (netavark's DNAT would silently shadow it). */
function portInUse(protocol: 'tcp' | 'udp', hostIp: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(true));
      socket.bind(port, hostIp || '0.0.0.0', () => socket.close(() => resolve(false)));
      return;
    }
    const server = createServer();
    server.once('error', () => resolve(true));
    server.listen(port, hostIp || '0.0.0.0', () => server.close(() => resolve(false)));
  });
}

/**
 * The name netavark knows a network by. netavark names its iptables chains after a hash of this name and
 * deletes them when a network's last container leaves, so two engines on one host (an agent and a test, or
 * podman) with a network called `bridge` or `web` would flush each other's port forwards. Ids are unique.
 */
function netavarkName(record: { id: string }): string {
  return record.id;
}

export interface NetworkManagerOptions {
  dataRoot: string;
  runRoot: string;
  events: EventBus;
  /** Bridge interfaces of user-defined networks are `<prefix><id>` (15 characters at most); default `br-`. */
  bridgePrefix?: string;
  /** The default `bridge` network's interface; default `berth0` (not docker0, which dockerd may own). */
  defaultBridgeName?: string;
  /** The default `bridge` network's subnet; default: picked from the pool like any other. */
  defaultBridgeSubnet?: string;
}

export class NetworkManager implements ContainerNetworking {
  readonly #dir: string;
  readonly #runDir: string;
  readonly #events: EventBus;
  readonly #records = new Map<string, NetworkRecord>();
  #queue: Promise<unknown> = Promise.resolve();
  readonly #netavarkBinary: string;
  readonly #aardvark: string;

  readonly #bridgePrefix: string;
  readonly #defaultBridgeName: string;
  readonly #defaultBridgeSubnet: string | undefined;

  private constructor(options: NetworkManagerOptions) {
    const { dataRoot, runRoot, events } = options;
    this.#bridgePrefix = options.bridgePrefix ?? 'br-';
    this.#defaultBridgeName = options.defaultBridgeName ?? 'berth0';
    this.#defaultBridgeSubnet = options.defaultBridgeSubnet;
    this.#dir = join(dataRoot, 'networks');
    this.#runDir = runRoot;
    this.#events = events;
    this.#netavarkBinary = findBinary(netavarkCandidates, 'netavark');
    this.#aardvark = findBinary(aardvarkCandidates, 'aardvark-dns');
  }

  static async open(options: NetworkManagerOptions): Promise<NetworkManager> {
    const manager = new NetworkManager(options);
    await mkdir(manager.#dir, { recursive: true, mode: 0o700 });
    for (const dir of ['netns', 'netavark', 'netavark/config'])
      await mkdir(join(manager.#runDir, dir), { recursive: true, mode: 0o700 });
    for (const file of await readdir(manager.#dir)) {
      if (!file.endsWith('.json')) continue;
      try {
        const record = networkRecordSchema.parse(
          JSON.parse(await readFile(join(manager.#dir, file), 'utf8')),
        );
        manager.#records.set(record.id, record);
      } catch {
        // A damaged network record is left for inspection and skipped.
      }
    }
    return manager;
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#queue.catch(() => {}).then(task);
    this.#queue = next;
    return next;
  }

  async #save(record: NetworkRecord): Promise<void> {
    const file = join(this.#dir, `${record.id}.json`);
    await writeFile(`${file}.tmp`, JSON.stringify(record));
    await rename(`${file}.tmp`, file);
  }

  #nsPath(containerId: string): string {
    return join(this.#runDir, 'netns', containerId);
  }

  #optionsPath(containerId: string): string {
    return join(this.#runDir, 'netavark', `${containerId}.json`);
  }

  #configDir(): string {
    return join(this.#runDir, 'netavark', 'config');
  }

  // ---- definitions ----

  #find(nameOrId: string): NetworkRecord | undefined {
    for (const record of this.#records.values())
      if (record.name === nameOrId || record.id === nameOrId) return record;
    if (/^[0-9a-f]{3,}$/.test(nameOrId)) {
      const matches = [...this.#records.values()].filter((r) => r.id.startsWith(nameOrId));
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  #get(nameOrId: string): NetworkRecord {
    const record = this.#find(nameOrId);
    if (!record) throw new EngineError('not_found', `network ${nameOrId} not found`);
    return record;
  }

  /** The id Docker would show for the predefined host and none networks: stable per host. */
  #predefinedId(name: string): string {
    return createHash('sha256').update(`berth-predefined-${name}`).digest('hex');
  }

  async #usedSubnets(): Promise<Cidr[]> {
    return [...(await hostRoutes()), ...[...this.#records.values()].map((r) => parseCidr(r.subnet))];
  }

  async #createRecord(request: NetworkCreateRequest, interfaceName?: string): Promise<NetworkRecord> {
    const name = request.Name;
    if (!networkNameRe.test(name))
      throw new EngineError('invalid_argument', `invalid network name: "${name}"`);
    if ((predefinedNetworks as readonly string[]).includes(name) && interfaceName === undefined)
      throw new EngineError('forbidden', `${name} is a pre-defined network and cannot be created`);
    if (this.#find(name)) throw new EngineError('conflict', `network with name ${name} already exists`);
    if (request.Driver && request.Driver !== 'bridge')
      throw new EngineError(
        'invalid_argument',
        `network driver "${request.Driver}" is not supported; use bridge`,
      );
    const config = request.IPAM?.Config?.[0];
    let subnet: Cidr;
    if (config?.Subnet) {
      try {
        subnet = parseCidr(config.Subnet);
      } catch (error) {
        throw new EngineError('invalid_argument', (error as Error).message);
      }
      const clash = [...this.#records.values()].find((r) => overlaps(parseCidr(r.subnet), subnet));
      if (clash)
        throw new EngineError(
          'conflict',
          `Pool overlaps with other one on this address space (${clash.name})`,
        );
    } else {
      // 172.17.0.0/16 stays for the default bridge, as with Docker.
      const reserved = interfaceName === undefined ? [parseCidr('172.17.0.0/16')] : [];
      const picked = pickSubnet([...(await this.#usedSubnets()), ...reserved]);
      if (!picked)
        throw new EngineError(
          'unavailable',
          'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
        );
      subnet = picked;
    }
    const gateway = config?.Gateway || intToIp(subnet.network + 1);
    if (!contains(subnet, gateway))
      throw new EngineError('invalid_argument', `gateway ${gateway} is not in subnet ${formatCidr(subnet)}`);
    const id = randomBytes(32).toString('hex');
    const record: NetworkRecord = {
      id,
      name,
      created: new Date().toISOString(),
      subnet: formatCidr(subnet),
      gateway,
      internal: request.Internal ?? false,
      labels: request.Labels ?? {},
      options: request.Options ?? {},
      interfaceName: interfaceName ?? `${this.#bridgePrefix}${id.slice(0, 15 - this.#bridgePrefix.length)}`,
      // As Docker: name resolution between containers on user-defined networks, not on the default bridge.
      dnsEnabled: interfaceName === undefined,
      endpoints: {},
    };
    await this.#save(record);
    this.#records.set(id, record);
    this.#events.emit('network', 'create', id, { name, type: 'bridge' });
    return record;
  }

  async #defaultBridge(): Promise<NetworkRecord> {
    const existing = this.#find('bridge');
    if (existing) return existing;
    return this.#createRecord(
      {
        Name: 'bridge',
        ...(this.#defaultBridgeSubnet ? { IPAM: { Config: [{ Subnet: this.#defaultBridgeSubnet }] } } : {}),
      },
      this.#defaultBridgeName,
    );
  }

  create(request: NetworkCreateRequest): Promise<{ Id: string; Warning: string }> {
    return this.#serial(async () => ({ Id: (await this.#createRecord(request)).id, Warning: '' }));
  }

  #inspect(record: NetworkRecord): NetworkInspect {
    const containers: NetworkInspect['Containers'] = {};
    const prefix = parseCidr(record.subnet).prefix;
    for (const [containerId, endpoint] of Object.entries(record.endpoints))
      containers[containerId] = {
        Name: endpoint.containerName,
        EndpointID: endpoint.endpointId,
        MacAddress: endpoint.mac,
        IPv4Address: `${endpoint.ip}/${prefix}`,
        IPv6Address: '',
      };
    return {
      Name: record.name,
      Id: record.id,
      Created: record.created,
      Scope: 'local',
      Driver: 'bridge',
      EnableIPv6: false,
      IPAM: {
        Driver: 'default',
        Options: null,
        Config: [{ Subnet: record.subnet, Gateway: record.gateway }],
      },
      Internal: record.internal,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: containers,
      Options:
        record.name === 'bridge'
          ? { 'com.docker.network.bridge.name': record.interfaceName, ...record.options }
          : record.options,
      Labels: record.labels,
    };
  }

  #predefinedInspect(name: 'host' | 'none'): NetworkInspect {
    return {
      Name: name,
      Id: this.#predefinedId(name),
      Created: '1970-01-01T00:00:00Z',
      Scope: 'local',
      Driver: name === 'host' ? 'host' : 'null',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: {},
      Options: {},
      Labels: {},
    };
  }

  async inspect(nameOrId: string): Promise<NetworkInspect> {
    if (nameOrId === 'host' || nameOrId === 'none') return this.#predefinedInspect(nameOrId);
    if (nameOrId === 'bridge') return this.#inspect(await this.#serial(() => this.#defaultBridge()));
    for (const name of ['host', 'none'] as const)
      if (this.#predefinedId(name) === nameOrId) return this.#predefinedInspect(name);
    return this.#inspect(this.#get(nameOrId));
  }

  /** The network's id for a name or id (predefined ones included); not_found otherwise. */
  async resolve(nameOrId: string): Promise<{ id: string; name: string }> {
    const info = await this.inspect(nameOrId);
    return { id: info.Id, name: info.Name };
  }

  async list(filters: Record<string, string[]> = {}): Promise<NetworkInspect[]> {
    const parsed = parseNetworkFilters(filters);
    await this.#serial(() => this.#defaultBridge());
    const all = [
      ...[...this.#records.values()].map((r) => this.#inspect(r)),
      this.#predefinedInspect('host'),
      this.#predefinedInspect('none'),
    ];
    return all.filter((network) => matchesNetworkFilters(network, parsed));
  }

  /** Containers (running or not) that name a network are told by the container store. */
  #usage: (networkName: string) => string[] = () => [];

  setUsage(usage: (networkName: string) => string[]): void {
    this.#usage = usage;
  }

  remove(nameOrId: string): Promise<void> {
    return this.#serial(async () => {
      if (
        (predefinedNetworks as readonly string[]).includes(nameOrId) ||
        ['host', 'none'].some((n) => this.#predefinedId(n) === nameOrId)
      )
        throw new EngineError('forbidden', `${nameOrId} is a pre-defined network and cannot be removed`);
      const record = this.#get(nameOrId);
      if (record.name === 'bridge')
        throw new EngineError('forbidden', 'bridge is a pre-defined network and cannot be removed');
      // As dockerd: only attached running containers (active endpoints) hold a network.
      if (Object.keys(record.endpoints).length)
        throw new EngineError(
          'conflict',
          `error while removing network: network ${record.name} id ${record.id} has active endpoints`,
        );
      await this.#dropKeeper(record);
      this.#records.delete(record.id);
      await rm(join(this.#dir, `${record.id}.json`), { force: true });
      this.#events.emit('network', 'destroy', record.id, { name: record.name, type: 'bridge' });
    });
  }

  async prune(filters: Record<string, string[]> = {}): Promise<{ NetworksDeleted: string[] }> {
    const parsed = parseNetworkPruneFilters(filters);
    const deleted: string[] = [];
    for (const record of [...this.#records.values()]) {
      if (isPredefined(record.name)) continue;
      if (Object.keys(record.endpoints).length || this.#usage(record.name).length) continue;
      if (!matchesPruneFilters({ Labels: record.labels, Created: record.created }, parsed)) continue;
      await this.remove(record.id);
      deleted.push(record.name);
    }
    return { NetworksDeleted: deleted };
  }

  // ---- container plumbing ----

  #netavarkNetwork(record: NetworkRecord): NetavarkNetwork {
    return {
      dns_enabled: record.dnsEnabled,
      driver: 'bridge',
      id: record.id,
      internal: record.internal,
      ipv6_enabled: false,
      name: netavarkName(record),
      network_interface: record.interfaceName,
      subnets: [{ subnet: record.subnet, gateway: record.gateway }],
      ipam_options: { driver: 'host-local' },
      // Docker keeps bridge networks from reaching each other; netavark's isolate option does the same.
      options: { isolate: 'true' },
    };
  }

  async #netavark(command: 'setup' | 'teardown', nsPath: string, options: NetavarkOptions): Promise<string> {
    const output = await this.#netavarkCall(command, nsPath, options);
    if (Object.values(options.network_info).some((n) => n.dns_enabled)) await this.#restartAardvark();
    return output;
  }

  /**
   * aardvark-dns 1.4 (Debian 12) reloads on SIGHUP by tearing down and restarting all its listeners, and now
   * and then the new ones never answer: every container on every DNS network loses name resolution until
   * aardvark restarts (containers/aardvark-dns#389, fixed in 1.11). netavark sends that SIGHUP on every
   * change, so after each one we restart aardvark ourselves: a fresh start binds all listeners at once.
   */
  async #restartAardvark(): Promise<void> {
    const dir = join(this.#configDir(), 'aardvark-dns');
    const configs = (await readdir(dir).catch(() => [] as string[])).filter((f) => f !== 'aardvark.pid');
    const pid = Number((await readFile(join(dir, 'aardvark.pid'), 'utf8').catch(() => '')).trim());
    // netavark stops aardvark itself once no network needs it.
    if (!configs.length) return;
    if (Number.isInteger(pid) && pid > 0 && (await aardvarkAlive(pid, this.#aardvark))) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {}
      for (let i = 0; i < 100 && (await aardvarkAlive(pid, this.#aardvark)); i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // `run` daemonizes: the process we start returns once the server is up and has written its pid file.
    await new Promise<void>((resolve) => {
      const child = spawn(this.#aardvark, ['--config', dir, '-p', '53', 'run'], {
        stdio: 'ignore',
        detached: true,
      });
      // Should it ever stay in the foreground, it must not hold up the engine (nor keep node alive).
      const timer = setTimeout(() => {
        child.unref();
        resolve();
      }, 5000);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      child.once('error', done);
      child.once('close', done);
    });
    // The daemon's parent may return before the listeners are bound; a query sent then would go unanswered.
    const gateways = new Set<string>();
    for (const file of configs) {
      const first = (await readFile(join(dir, file), 'utf8').catch(() => '')).split('\n')[0] ?? '';
      const ip = first.split(/[ ,]/)[0] ?? '';
      if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) gateways.add(ip);
    }
    for (let i = 0; i < 200; i++) {
      const bound = await udpListeners();
      if ([...gateways].every((ip) => bound.has(`${ip}:53`))) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async #netavarkCall(
    command: 'setup' | 'teardown',
    nsPath: string,
    options: NetavarkOptions,
  ): Promise<string> {
    // netavark locks only its own config directory; several engines on one host (tests, or an agent beside a
    // test run) must not edit the shared iptables chains at the same moment, so every call holds one host lock.
    return run(
      'flock',
      [
        // --close: aardvark-dns, which netavark starts as a daemon, must not inherit (and keep) the lock.
        '--close',
        hostNetworkLock,
        this.#netavarkBinary,
        '--config',
        this.#configDir(),
        '--aardvark-binary',
        this.#aardvark,
        command,
        nsPath,
      ],
      JSON.stringify(options),
    );
  }

  async #createNamespace(path: string): Promise<void> {
    if (existsSync(path)) return;
    await writeFile(path, '');
    // unshare bind-mounts the new namespace onto the file, so it lives on without a process in it.
    await new Promise<void>((resolve, reject) => {
      const child = spawn('unshare', [`--net=${path}`, 'true'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.once('error', reject);
      child.once('close', (code) =>
        code === 0 ? resolve() : reject(new EngineError('failed', `unshare: ${stderr.trim()}`)),
      );
    });
  }

  async #removeNamespace(path: string): Promise<void> {
    await new Promise<void>((resolve) => execFile('umount', [path], () => resolve()));
    await rm(path, { force: true });
  }

  async #assignPorts(bindings: PortBinding[], containerId: string): Promise<PortBinding[]> {
    const taken = new Set<string>();
    for (const file of await readdir(join(this.#runDir, 'netavark')).catch(() => [] as string[])) {
      if (!file.endsWith('.json') || file === `${containerId}.json`) continue;
      try {
        const options = await readOptions(join(this.#runDir, 'netavark', file));
        for (const p of options.port_mappings) taken.add(`${p.protocol}/${p.host_port}`);
      } catch {}
    }
    const out: PortBinding[] = [];
    for (const binding of bindings) {
      let hostPort = binding.hostPort;
      if (hostPort === 0) {
        do hostPort = await freePort(binding.protocol, binding.hostIp);
        while (taken.has(`${binding.protocol}/${hostPort}`));
      } else if (
        taken.has(`${binding.protocol}/${hostPort}`) ||
        (await portInUse(binding.protocol, binding.hostIp, hostPort))
      )
        throw new EngineError(
          'conflict',
          `driver failed programming external connectivity: Bind for ${binding.hostIp || '0.0.0.0'}:${hostPort} failed: port is already allocated`,
        );
      taken.add(`${binding.protocol}/${hostPort}`);
      out.push({ ...binding, hostPort });
    }
    return out;
  }

  #allocate(record: NetworkRecord, containerId: string, requested?: string): string {
    const cidr = parseCidr(record.subnet);
    const taken = new Set([
      record.gateway,
      ...(record.keeper ? [record.keeper] : []),
      ...Object.entries(record.endpoints)
        .filter(([id]) => id !== containerId)
        .map(([, e]) => e.ip),
    ]);
    if (requested) {
      if (!contains(cidr, requested))
        throw new EngineError(
          'invalid_argument',
          `requested address ${requested} is not in subnet ${record.subnet}`,
        );
      if (taken.has(requested)) throw new EngineError('conflict', `Address already in use: ${requested}`);
      return requested;
    }
    const ip = allocateAddress(cidr, taken);
    if (!ip) throw new EngineError('unavailable', `no available IPv4 addresses on network ${record.name}`);
    return ip;
  }

  /** netavark's names of the networks whose keeper holds their bridge and firewall rules. */
  #keptNetworks(): Set<string> {
    return new Set(
      [...this.#records.values()].filter((r) => r.keeper !== undefined).map((r) => netavarkName(r)),
    );
  }

  /**
   * Makes the container's network namespace, so a runtime can be pointed at it while `setup` is still
   * wiring it. Returns its path; `setup` reuses it and `teardown` removes it.
   */
  async createNamespace(containerId: string): Promise<string> {
    const nsPath = this.#nsPath(containerId);
    await this.#createNamespace(nsPath);
    return nsPath;
  }

  setup(request: NetworkSetupRequest): Promise<NetworkSetupResult> {
    return this.#serial(async () => {
      const nsPath = this.#nsPath(request.containerId);
      const records: Array<{ record: NetworkRecord; endpoint: EndpointRequest }> = [];
      for (const endpoint of request.endpoints)
        records.push({
          record: endpoint.network === 'bridge' ? await this.#defaultBridge() : this.#get(endpoint.network),
          endpoint,
        });
      for (const { record } of records) await this.#ensureKeeper(record);
      const portBindings = await this.#assignPorts(request.portBindings, request.containerId);
      const options: NetavarkOptions = {
        container_id: request.containerId,
        container_name: request.containerName,
        port_mappings: portBindings.map((b) => ({
          host_ip: b.hostIp,
          container_port: b.containerPort,
          host_port: b.hostPort,
          range: 1,
          protocol: b.protocol,
        })),
        networks: {},
        network_info: {},
      };
      records.forEach(({ record, endpoint }, index) => {
        const ip = this.#allocate(record, request.containerId, endpoint.ipv4Address);
        options.networks[netavarkName(record)] = {
          static_ips: [ip],
          static_mac: macFor(ip),
          // Docker resolves a container by its name, its aliases and its short id on user-defined networks.
          aliases: record.dnsEnabled
            ? [...new Set([...endpoint.aliases, request.containerId.slice(0, 12)])]
            : [],
          interface_name: `eth${index}`,
        };
        options.network_info[netavarkName(record)] = this.#netavarkNetwork(record);
      });
      await this.#createNamespace(nsPath);
      await writeFile(this.#optionsPath(request.containerId), JSON.stringify(options));
      let output: string;
      try {
        output = await this.#netavark('setup', nsPath, options);
      } catch (error) {
        await this.#netavark('teardown', nsPath, options).catch(() => {});
        await rm(this.#optionsPath(request.containerId), { force: true });
        await this.#removeNamespace(nsPath);
        throw error;
      }
      const status = statusSchema.parse(JSON.parse(output));
      const endpoints: EndpointResult[] = [];
      const dnsServers: string[] = [];
      for (const { record, endpoint } of records) {
        const netOptions = options.networks[netavarkName(record)];
        const block = status[netavarkName(record)];
        const iface = block?.interfaces[netOptions?.interface_name ?? 'eth0'];
        const ip = netOptions?.static_ips[0] ?? '';
        const result: EndpointResult = {
          network: endpoint.network,
          networkId: record.id,
          endpointId: createHash('sha256').update(`${record.id}/${request.containerId}`).digest('hex'),
          ipAddress: ip,
          prefixLength: parseCidr(record.subnet).prefix,
          gateway: record.internal ? '' : record.gateway,
          macAddress: iface?.mac_address ?? '',
          aliases: endpoint.aliases,
        };
        endpoints.push(result);
        record.endpoints[request.containerId] = {
          containerName: request.containerName,
          ip,
          mac: result.macAddress,
          aliases: endpoint.aliases,
          endpointId: result.endpointId,
          interfaceName: netOptions?.interface_name ?? 'eth0',
        };
        await this.#save(record);
        if (record.dnsEnabled) dnsServers.push(...(block?.dns_server_ips ?? [record.gateway]));
        this.#events.emit('network', 'connect', record.id, {
          container: request.containerId,
          name: record.name,
          type: 'bridge',
        });
      }
      return {
        netnsPath: nsPath,
        endpoints,
        portBindings,
        dnsServers: [...new Set(dnsServers)],
        dnsSearch: [],
      };
    });
  }

  teardown(containerId: string): Promise<void> {
    return this.#serial(async () => {
      const nsPath = this.#nsPath(containerId);
      let options: NetavarkOptions | undefined;
      try {
        options = await readOptions(this.#optionsPath(containerId));
      } catch {}
      if (options && existsSync(nsPath) && needsNetavarkTeardown(options, this.#keptNetworks()))
        await this.#netavark('teardown', nsPath, options).catch(() => {});
      await rm(this.#optionsPath(containerId), { force: true });
      await this.#removeNamespace(nsPath);
      for (const record of this.#records.values()) {
        if (!record.endpoints[containerId]) continue;
        delete record.endpoints[containerId];
        await this.#save(record);
        this.#events.emit('network', 'disconnect', record.id, {
          container: containerId,
          name: record.name,
          type: 'bridge',
        });
      }
    });
  }

  /** Attaches a running container (already set up) to one more network. */
  connect(containerId: string, containerName: string, endpoint: EndpointRequest): Promise<EndpointResult> {
    return this.#serial(async () => {
      const record =
        endpoint.network === 'bridge' ? await this.#defaultBridge() : this.#get(endpoint.network);
      if (record.endpoints[containerId])
        throw new EngineError(
          'forbidden',
          `endpoint with name ${containerName} already exists in network ${record.name}`,
        );
      const optionsPath = this.#optionsPath(containerId);
      const all = await readOptions(optionsPath);
      const used = new Set(Object.values(all.networks).map((n) => n.interface_name));
      let index = 0;
      while (used.has(`eth${index}`)) index++;
      const ip = this.#allocate(record, containerId, endpoint.ipv4Address);
      const one: NetavarkOptions = {
        container_id: containerId,
        container_name: containerName,
        port_mappings: [],
        networks: {
          [netavarkName(record)]: {
            static_ips: [ip],
            static_mac: macFor(ip),
            aliases: record.dnsEnabled ? [...new Set([...endpoint.aliases, containerId.slice(0, 12)])] : [],
            interface_name: `eth${index}`,
          },
        },
        network_info: { [netavarkName(record)]: this.#netavarkNetwork(record) },
      };
      const output = await this.#netavark('setup', this.#nsPath(containerId), one);
      const status = statusSchema.parse(JSON.parse(output));
      all.networks[netavarkName(record)] = one.networks[
        netavarkName(record)
      ] as NetavarkOptions['networks'][string];
      all.network_info[netavarkName(record)] = this.#netavarkNetwork(record);
      await writeFile(optionsPath, JSON.stringify(all));
      const mac = status[netavarkName(record)]?.interfaces[`eth${index}`]?.mac_address ?? '';
      const endpointId = createHash('sha256').update(`${record.id}/${containerId}`).digest('hex');
      record.endpoints[containerId] = {
        containerName,
        ip,
        mac,
        aliases: endpoint.aliases,
        endpointId,
        interfaceName: `eth${index}`,
      };
      await this.#save(record);
      this.#events.emit('network', 'connect', record.id, {
        container: containerId,
        name: record.name,
        type: 'bridge',
      });
      return {
        network: record.name,
        networkId: record.id,
        endpointId,
        ipAddress: ip,
        prefixLength: parseCidr(record.subnet).prefix,
        gateway: record.internal ? '' : record.gateway,
        macAddress: mac,
        aliases: endpoint.aliases,
      };
    });
  }

  /** Detaches a running container from one network. */
  disconnect(containerId: string, network: string): Promise<void> {
    return this.#serial(async () => {
      const record = this.#get(network);
      const optionsPath = this.#optionsPath(containerId);
      const all = await readOptions(optionsPath);
      // Set up before netavark names were ids, a container's options still carry the network's name.
      const key = all.networks[netavarkName(record)] ? netavarkName(record) : record.name;
      const mine = all.networks[key];
      if (mine) {
        const one: NetavarkOptions = {
          container_id: containerId,
          container_name: all.container_name,
          port_mappings: [],
          networks: { [key]: mine },
          // Teardown must name the network as setup did: netavark derives its chain names from it.
          network_info: { [key]: all.network_info[key] ?? this.#netavarkNetwork(record) },
        };
        await this.#netavark('teardown', this.#nsPath(containerId), one);
        delete all.networks[key];
        delete all.network_info[key];
        await writeFile(optionsPath, JSON.stringify(all));
      }
      if (record.endpoints[containerId]) {
        delete record.endpoints[containerId];
        await this.#save(record);
      }
      this.#events.emit('network', 'disconnect', record.id, {
        container: containerId,
        name: record.name,
        type: 'bridge',
      });
    });
  }

  /** After a crash: tears down whatever belongs to containers that are not running any more. */
  // ---- keepers ----
  //
  // netavark removes a bridge, and all of its network's firewall rules, when the last container leaves it,
  // and makes them again for the next one: most of a container start on a bridge. A keeper is one namespace
  // with one endpoint that stays attached while the network is in use or the engine runs, so the bridge and
  // the network's rules stay warm and containers only add and remove their own.

  #keeperId(record: NetworkRecord): string {
    return `keeper-${record.id.slice(0, 12)}`;
  }

  async #ensureKeeper(record: NetworkRecord): Promise<void> {
    const id = this.#keeperId(record);
    if (record.keeper && existsSync(this.#optionsPath(id))) return;
    const ip = this.#allocate(record, id);
    const options: NetavarkOptions = {
      container_id: id,
      container_name: `berth-${id}`,
      port_mappings: [],
      networks: {
        [netavarkName(record)]: {
          static_ips: [ip],
          static_mac: macFor(ip),
          aliases: [],
          interface_name: 'eth0',
        },
      },
      network_info: { [netavarkName(record)]: this.#netavarkNetwork(record) },
    };
    const nsPath = this.#nsPath(id);
    try {
      await this.#createNamespace(nsPath);
      await writeFile(this.#optionsPath(id), JSON.stringify(options));
      await this.#netavark('setup', nsPath, options);
      record.keeper = ip;
      await this.#save(record);
    } catch {
      // Only an optimisation: without a keeper, containers still start (more slowly).
      await this.#netavark('teardown', nsPath, options).catch(() => {});
      await rm(this.#optionsPath(id), { force: true });
      await this.#removeNamespace(nsPath);
    }
  }

  async #dropKeeper(record: NetworkRecord): Promise<void> {
    const id = this.#keeperId(record);
    const nsPath = this.#nsPath(id);
    try {
      const options = await readOptions(this.#optionsPath(id));
      if (existsSync(nsPath)) await this.#netavark('teardown', nsPath, options).catch(() => {});
    } catch {}
    await rm(this.#optionsPath(id), { force: true });
    await this.#removeNamespace(nsPath);
    if (record.keeper !== undefined) {
      delete record.keeper;
      if (this.#records.has(record.id)) await this.#save(record);
    }
  }

  /** Lets go of the bridges nothing uses (on engine close; running containers keep theirs). */
  releaseIdle(): Promise<void> {
    return this.#serial(async () => {
      for (const record of this.#records.values())
        if (record.keeper !== undefined && Object.keys(record.endpoints).length === 0)
          await this.#dropKeeper(record);
    });
  }

  /** After a crash: tears down whatever belongs to containers that are not running any more. */
  async sweep(running: Set<string>): Promise<void> {
    const keepers = new Set([...this.#records.values()].map((r) => this.#keeperId(r)));
    const ids = new Set<string>();
    for (const file of await readdir(join(this.#runDir, 'netns')).catch(() => [] as string[])) ids.add(file);
    for (const file of await readdir(join(this.#runDir, 'netavark')).catch(() => [] as string[]))
      if (file.endsWith('.json')) ids.add(file.slice(0, -5));
    for (const record of this.#records.values()) for (const id of Object.keys(record.endpoints)) ids.add(id);
    for (const id of ids) {
      if (running.has(id) || keepers.has(id)) continue;
      await this.teardown(id);
    }
  }
}

/**
 * Whether tearing a container down needs netavark. Its firewall rules are per network (kept while the
 * network's keeper holds it) except port forwards, and its DNS entries exist only on DNS networks; without
 * either, all it made for the container is the veth pair, which the kernel deletes with the namespace. That
 * saves a few dozen iptables checks on every container exit.
 */
export function needsNetavarkTeardown(options: NetavarkOptions, keptNetworks: Set<string>): boolean {
  return (
    options.port_mappings.length > 0 ||
    Object.keys(options.networks).some((name) => !keptNetworks.has(name)) ||
    Object.values(options.network_info).some((network) => network.dns_enabled)
  );
}
