/**
 * For integration tests of the agent link: a control-plane instance made of the real gateway, its own bus on
 * the test's PostgreSQL (DATABASE_URL set by teams/testing.ts) and its own WebSocket endpoint on loopback, and
 * a host whose real engine is linked to one. Loaded lazily so the environment is set before the server modules
 * read it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineBackend } from '@berth/agent/link/backend';
import { ControlPlaneLink, type LinkBackend } from '@berth/agent/link/client';
import { AgentIdentity } from '@berth/agent/link/identity';
import type { EngineFacts } from '@berth/agent/protocol/messages';
import { seedTeam } from '@berth/db/seed';
import { Engine } from '@berth/engine';
import { loadBusybox, testNetworkOptions } from '@berth/engine/testing/index';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import type { ControlPlaneHarness } from '../teams/testing';
import type { InstanceBus } from './bus';
import type { AgentGateway, RelayTimings } from './gateway';

export interface GatewayInstance {
  gateway: AgentGateway;
  bus: InstanceBus;
  url: string;
  port: number;
  /** Stops like a crashed or restarted instance: agents' sockets cut, nothing marked by hand. */
  close(): Promise<void>;
}

export async function startGatewayInstance(
  port = 0,
  options: { relayTimings?: Partial<RelayTimings> } = {},
): Promise<GatewayInstance> {
  const { AgentGateway } = await import('./gateway');
  const { InstanceBus } = await import('./bus');
  const gateway = new AgentGateway(options);
  const bus = await InstanceBus.start({
    databaseUrl: process.env.DATABASE_URL as string,
    onMessage: (message) => gateway.onBusMessage(message),
    onFleetChange: (teamId) => gateway.onBusFleetChange(teamId),
  });
  gateway.attachBus(bus);
  const sockets = new WebSocketServer({ noServer: true });
  const server: Server = createServer();
  server.on('upgrade', (req, socket, head) =>
    sockets.handleUpgrade(req, socket, head, (ws) => gateway.handle(ws, '127.0.0.1')),
  );
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    gateway,
    bus,
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    async close() {
      for (const ws of sockets.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await bus[Symbol.asyncDispose]();
    },
  };
}

/** What a made-up host reports, for links whose backend a test scripts. */
export function madeUpFacts(hostname: string): EngineFacts {
  return {
    hostname,
    os: 'Debian',
    kernel: '6',
    arch: 'x64',
    cpus: 2,
    memoryBytes: 1024,
    runtimes: {},
    agentVersion: 'test',
  };
}

export interface LinkedHost {
  teamId: string;
  hostId: string;
  /** Started; the caller closes it. */
  link: ControlPlaneLink;
}

/**
 * An agent with its identity in `dir` and `backend` behind it, linked by the real link client to `gateway`, as
 * `host`: a host already made with that identity, or the name of a new one in a new team. Resolves once the
 * gateway has it connected.
 */
export async function linkHost(
  cp: ControlPlaneHarness,
  gateway: GatewayInstance,
  backend: LinkBackend,
  options: { dir: string; host: string | { teamId: string; hostId: string } },
): Promise<LinkedHost> {
  const identity = await AgentIdentity.load(options.dir);
  let host = options.host;
  if (typeof host === 'string') {
    const prisma = cp.db.db();
    const teamId = (await seedTeam(prisma)).id;
    const row = await prisma.host.create({ data: { teamId, name: host, publicKey: identity.publicKey } });
    host = { teamId, hostId: row.id };
  }
  const { hostId } = host;
  const link = new ControlPlaneLink({
    controlPlane: gateway.url,
    hostId,
    identity,
    backend,
    log: pino({ level: 'silent' }),
    agentVersion: 'test',
    // Reconnect at once in tests: the delay's upper bound starts at the protocol's base.
    random: () => 0,
  }).start();
  // A plain wait rather than expect.poll, which vitest allows only inside a test: this also serves beforeAll.
  for (let waited = 0; !gateway.gateway.connected().includes(hostId); waited += 50) {
    if (waited >= 10_000) {
      await link.close();
      throw new Error(`the agent of host ${hostId} did not connect within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { teamId: host.teamId, hostId, link };
}

export interface LinkedAgent extends AsyncDisposable {
  /** The host's engine: busybox loaded, on the test's own bridge names. */
  engine: Engine;
  link: ControlPlaneLink;
  /**
   * The instance the agent links to. A test that restarts it sets the new one here, so that close() closes
   * the one running then.
   */
  gateway: GatewayInstance;
  teamId: string;
  hostId: string;
  /** Removes the link, the gateway, every container of the engine, the engine and the test's directory. */
  close(): Promise<void>;
}

/**
 * A real engine behind the real agent link and backend, linked over a real WebSocket to a new gateway instance,
 * as the host `bt-<name>-host` of a new team; ready once the gateway has the host connected. With
 * `processGateway`, the procedures of this process send through that gateway (as the custom server's do), and
 * stop doing so at close.
 */
export async function startLinkedAgent(
  cp: ControlPlaneHarness,
  name: string,
  options: { processGateway?: boolean } = {},
): Promise<LinkedAgent> {
  const root = await mkdtemp(join(tmpdir(), `bt-web-${name}-agent-`));
  const made: { engine?: Engine; gateway?: GatewayInstance; link?: ControlPlaneLink } = {};
  const holder = globalThis as { berthGateway?: unknown };
  // Every step runs even when one before it fails: what a failed step leaves must not keep the rest behind.
  async function close(): Promise<void> {
    const steps = [
      () => made.link?.close(),
      () => made.gateway?.close(),
      async () => {
        if (!made.engine) return;
        for (const c of made.engine.containers.list({ all: true }))
          await made.engine.containers.remove(c.Id, { force: true, volumes: true }).catch(() => {});
        await made.engine.close();
      },
      () => {
        if (options.processGateway) delete holder.berthGateway;
      },
      () => rm(root, { recursive: true, force: true }),
    ];
    let failure: unknown;
    for (const step of steps)
      await Promise.resolve()
        .then(step)
        .catch((error: unknown) => {
          failure ??= error;
        });
    if (failure) throw failure;
  }
  try {
    const engine = await Engine.open({ dataRoot: join(root, 'engine'), ...testNetworkOptions() });
    made.engine = engine;
    await loadBusybox(engine);
    const gateway = await startGatewayInstance();
    made.gateway = gateway;
    if (options.processGateway) holder.berthGateway = gateway.gateway;
    const { teamId, hostId, link } = await linkHost(cp, gateway, engineBackend(engine), {
      dir: join(root, 'agent'),
      host: `bt-${name}-host`,
    });
    made.link = link;
    return {
      engine,
      link,
      get gateway() {
        return made.gateway as GatewayInstance;
      },
      set gateway(next: GatewayInstance) {
        made.gateway = next;
      },
      teamId,
      hostId,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
