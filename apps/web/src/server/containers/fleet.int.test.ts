/**
 * The fleet-wide containers and images lists against a real PostgreSQL: inventory rows filled by the real
 * agent gateway from a peer speaking the agent protocol (inventory, then a delta), paging, search, label and
 * state filters, sorting, stale rows of offline hosts, revoked hosts left out, and who may act on them.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AgentFrame,
  type ContainerSummary,
  challengePayload,
  type Inventory,
  PROTOCOL_VERSION,
  type ServerFrame,
} from '@berth/agent/protocol/messages';
import { containerRowFor, seedHost, seedTeam } from '@berth/db/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { type ControlPlaneHarness, startControlPlane, trpcCode } from '../teams/testing';

let cp: ControlPlaneHarness;

function summary(n: number, data: Partial<ContainerSummary> = {}): ContainerSummary {
  return {
    id: n.toString(16).padStart(64, 'a'),
    name: `peer-${n}`,
    image: 'busybox:latest',
    imageId: `sha256:${'1'.repeat(64)}`,
    command: 'sleep 1000',
    state: 'running',
    status: 'Up 1 second',
    created: 1_700_000_000 + n,
    labels: {},
    ports: [],
    networks: [],
    ...data,
  };
}

describe('fleet containers and images', () => {
  beforeAll(async () => {
    cp = await startControlPlane('fleet');
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('pages, searches, filters by label and state, sorts, and marks an offline host stale', async () => {
    const prisma = cp.db.db();
    const team = await seedTeam(prisma);
    const other = await seedTeam(prisma);
    const web = await seedHost(prisma, team.id, { name: 'web-1', online: true });
    const db1 = await seedHost(prisma, team.id, { name: 'db-1', online: false });
    const foreign = await seedHost(prisma, other.id, { name: 'web-foreign', online: true });
    await prisma.hostContainer.createMany({
      data: [
        ...Array.from({ length: 120 }, (_, i) =>
          containerRowFor(web.id, team.id, i, {
            name: `api-${String(i).padStart(3, '0')}`,
            labels: { app: i % 2 ? 'api' : 'worker', tier: 'back' },
            state: i % 10 === 0 ? 'exited' : 'running',
          }),
        ),
        containerRowFor(db1.id, team.id, 1000, {
          name: 'postgres',
          image: 'postgres:17',
          labels: { app: 'db' },
        }),
        containerRowFor(foreign.id, other.id, 2000, { name: 'api-foreign' }),
      ],
    });
    const { caller } = await cp.user(team.id, 'viewer');

    const first = await caller.containers.list({ teamId: team.id, pageSize: 50 });
    expect(first.total).toBe(121);
    expect(first.rows).toHaveLength(50);
    expect(first.rows[0]?.name).toBe('api-000');
    expect(first.rows.some((r) => r.name === 'api-foreign')).toBe(false);
    const third = await caller.containers.list({ teamId: team.id, pageSize: 50, page: 3 });
    expect(third.rows.map((r) => r.name)).toEqual([
      ...Array.from({ length: 20 }, (_, i) => `api-${100 + i}`),
      'postgres',
    ]);

    // Text matches the name, the image or the host's name; % and _ are literal.
    expect((await caller.containers.list({ teamId: team.id, search: 'POSTGRES:1' })).total).toBe(1);
    expect((await caller.containers.list({ teamId: team.id, search: 'db-1' })).rows[0]?.name).toBe(
      'postgres',
    );
    expect((await caller.containers.list({ teamId: team.id, search: 'api_%' })).total).toBe(0);

    const api = await caller.containers.list({ teamId: team.id, labels: ['app=api'] });
    expect(api.total).toBe(60);
    expect((await caller.containers.list({ teamId: team.id, labels: ['app=api', 'tier=back'] })).total).toBe(
      60,
    );
    expect((await caller.containers.list({ teamId: team.id, labels: ['tier'] })).total).toBe(120);
    expect((await caller.containers.list({ teamId: team.id, labels: ['nope'] })).total).toBe(0);
    expect((await caller.containers.list({ teamId: team.id, states: ['exited'] })).total).toBe(12);

    const byHost = await caller.containers.list({ teamId: team.id, sort: 'host', pageSize: 1 });
    expect(byHost.rows[0]).toMatchObject({ name: 'postgres', hostName: 'db-1', stale: true });
    const newest = await caller.containers.list({
      teamId: team.id,
      sort: 'created',
      direction: 'desc',
      pageSize: 1,
    });
    expect(newest.rows[0]?.name).toBe('postgres');
    expect(first.rows[0]?.stale).toBe(false);

    // A revoked host's rows are gone from the list.
    await prisma.host.update({ where: { id: db1.id }, data: { revokedAt: new Date() } });
    expect((await caller.containers.list({ teamId: team.id })).total).toBe(120);

    // The other team's data is not reachable by naming its team.
    expect(await trpcCode(caller.containers.list({ teamId: other.id }))).toBe('NOT_FOUND');
  });

  it('lets operators act and bulk-act, refuses viewers and strangers, and reports each target', async () => {
    const prisma = cp.db.db();
    const team = await seedTeam(prisma);
    const offline = await seedHost(prisma, team.id, { online: false });
    const target = { hostId: offline.id, containerId: 'f'.repeat(64) };
    const { caller: viewer } = await cp.user(team.id, 'viewer');
    const { caller: operator } = await cp.user(team.id, 'operator');
    const { caller: stranger } = await cp.user(null);

    for (const action of ['start', 'stop', 'restart', 'kill', 'pause', 'unpause', 'remove'] as const) {
      expect(await trpcCode(viewer.containers.action({ teamId: team.id, action, ...target }))).toBe(
        'FORBIDDEN',
      );
      expect(await trpcCode(stranger.containers.action({ teamId: team.id, action, ...target }))).toBe(
        'NOT_FOUND',
      );
      // The operator passes the role check; the host's agent is not connected to this instance.
      expect(await trpcCode(operator.containers.action({ teamId: team.id, action, ...target }))).toBe(
        'PRECONDITION_FAILED',
      );
    }
    expect(
      await trpcCode(viewer.containers.bulk({ teamId: team.id, action: 'stop', targets: [target] })),
    ).toBe('FORBIDDEN');
    const foreignHost = await seedHost(prisma, (await seedTeam(prisma)).id, { online: true });
    const results = await operator.containers.bulk({
      teamId: team.id,
      action: 'restart',
      targets: [target, { hostId: foreignHost.id, containerId: target.containerId }],
    });
    expect(results).toEqual(
      expect.arrayContaining([
        { ...target, ok: false, error: 'the host is offline' },
        {
          hostId: foreignHost.id,
          containerId: target.containerId,
          ok: false,
          error: 'No such host in this team.',
        },
      ]),
    );
    const audit = await prisma.auditLog.findMany({ where: { teamId: team.id, action: 'container.restart' } });
    expect(audit.length).toBeGreaterThanOrEqual(2);

    const image = { teamId: team.id, hostId: offline.id, imageId: `sha256:${'2'.repeat(64)}` };
    expect(await trpcCode(viewer.images.remove(image))).toBe('FORBIDDEN');
    expect(await trpcCode(operator.images.remove(image))).toBe('PRECONDITION_FAILED');
  });

  it('fills the rows from an agent link: full inventory, then deltas; images listed per host', async () => {
    const prisma = cp.db.db();
    const { gateway } = await import('../agents/gateway');
    const wss = new WebSocketServer({ noServer: true });
    const server: Server = createServer();
    server.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => gateway().handle(ws, '127.0.0.1')),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const team = await seedTeam(prisma);
    const host = await seedHost(prisma, team.id, {
      name: 'peer',
      publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    });
    const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/agent/ws`);
    const frames: ServerFrame[] = [];
    const waiters: Array<() => void> = [];
    ws.on('message', (raw: Buffer) => {
      frames.push(JSON.parse(raw.toString()) as ServerFrame);
      for (const w of waiters.splice(0)) w();
    });
    const next = async (type: ServerFrame['type']): Promise<ServerFrame> => {
      for (;;) {
        const at = frames.findIndex((f) => f.type === type);
        if (at >= 0) return frames.splice(at, 1)[0] as ServerFrame;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    };
    const send = (frame: AgentFrame) => ws.send(JSON.stringify(frame));
    const until = async (check: () => Promise<boolean>) => {
      const deadline = Date.now() + 10_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error('condition not reached');
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'bt', hostId: host.id });
      const challenge = await next('challenge');
      if (challenge.type !== 'challenge') throw new Error('no challenge');
      send({
        type: 'auth',
        signature: sign(null, challengePayload(challenge.nonce, host.id), privateKey).toString('base64'),
      });
      await next('welcome');
      const inventory: Inventory = {
        facts: {
          hostname: 'peer',
          os: 'Debian',
          kernel: '6',
          arch: 'x64',
          cpus: 2,
          memoryBytes: 1,
          runtimes: {},
          agentVersion: 'bt',
        },
        containers: [
          summary(1, { labels: { app: 'x' } }),
          summary(2, { state: 'exited', status: 'Exited (0)' }),
        ],
        images: [
          {
            id: `sha256:${'3'.repeat(64)}`,
            repoTags: ['busybox:latest'],
            repoDigests: [],
            size: 4_000_000,
            created: 1,
          },
        ],
        volumes: [],
        networks: [],
      };
      send({ type: 'inventory', inventory });
      const { caller } = await cp.user(team.id, 'viewer');
      await until(async () => (await caller.containers.list({ teamId: team.id })).total === 2);
      const listed = await caller.containers.list({ teamId: team.id, labels: ['app=x'] });
      expect(listed.rows[0]).toMatchObject({ name: 'peer-1', hostName: 'peer', stale: false });

      const event = (id: string, action: string) => ({
        Type: 'container',
        Action: action,
        Actor: { ID: id, Attributes: {} },
        time: 1,
        timeNano: 1,
      });
      send({
        type: 'event',
        event: event(summary(2).id, 'start'),
        container: summary(2, { state: 'running' }),
      });
      send({ type: 'event', event: event(summary(1).id, 'destroy'), removed: true });
      await until(async () => {
        const rows = (await caller.containers.list({ teamId: team.id })).rows;
        return rows.length === 1 && rows[0]?.state === 'running';
      });

      const images = await caller.images.list({ teamId: team.id, search: 'busybox' });
      expect(images.rows).toEqual([
        expect.objectContaining({
          hostName: 'peer',
          repoTags: ['busybox:latest'],
          size: 4_000_000,
          containers: 1,
        }),
      ]);

      // An image event (here a pull on the host) asks for a fresh inventory, which brings the image rows.
      frames.length = 0;
      send({
        type: 'event',
        event: { ...event('alpine:3', 'pull'), Type: 'image' },
      });
      await next('resync');

      // A fresh inventory replaces the rows wholesale (here: the engine was emptied while we were away).
      send({ type: 'inventory', inventory: { ...inventory, containers: [], images: [] } });
      await until(async () => (await caller.containers.list({ teamId: team.id })).total === 0);
      expect((await caller.images.list({ teamId: team.id })).total).toBe(0);
    } finally {
      ws.close();
      wss.close();
      await new Promise((resolve) => server.close(resolve));
      await prisma.host.deleteMany({ where: { id: host.id } });
    }
  });
});
