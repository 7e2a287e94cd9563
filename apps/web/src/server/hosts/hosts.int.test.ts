/**
 * The hosts list, detail and admin edits against a real PostgreSQL, and revocation through the real gateway: the
 * connected agent is told and disconnected at once, and its next connection is refused.
 */
import type { Inventory } from '@berth/agent/protocol/messages';
import { containerRowFor, seedHost, seedTeam } from '@berth/db/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlaneHarness, startControlPlane, trpcCode } from '../teams/testing';
import { AgentPeer, agentKeys, startGatewayServer } from './agent-peer';

let cp: ControlPlaneHarness;

const inventory: Inventory = {
  facts: {
    hostname: 'peer',
    os: 'Debian GNU/Linux 12 (bookworm)',
    kernel: '6.18.0',
    arch: 'x64',
    cpus: 2,
    memoryBytes: 4_000_000_000,
    runtimes: { runc: '1.1.5' },
    agentVersion: 'bt',
  },
  containers: [],
  images: [],
  volumes: [],
  networks: [],
};

describe('hosts', () => {
  beforeAll(async () => {
    cp = await startControlPlane('hosts');
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('lists with search, label filters, pages and counts by state; rename and labels are for admins', async () => {
    const prisma = cp.db.db();
    const team = await seedTeam(prisma);
    const other = await seedTeam(prisma);
    for (let i = 0; i < 30; i++)
      await seedHost(prisma, team.id, {
        name: `node-${String(i).padStart(2, '0')}`,
        labels: { env: i < 10 ? 'prod' : 'dev', ...(i % 2 ? { gpu: 'yes' } : {}) },
        online: i % 3 === 0,
      });
    const web = await seedHost(prisma, team.id, { name: 'web', labels: { env: 'prod' } });
    await prisma.host.update({ where: { id: web.id }, data: { inventory } });
    await prisma.hostContainer.createMany({
      data: Array.from({ length: 25 }, (_, i) =>
        containerRowFor(web.id, team.id, i, { state: i < 5 ? 'exited' : 'running' }),
      ),
    });
    await seedHost(prisma, other.id, { name: 'web-foreign' });
    const { caller: viewer } = await cp.user(team.id, 'viewer');
    const { caller: admin } = await cp.user(team.id, 'admin');
    const { caller: operator } = await cp.user(team.id, 'operator');

    const first = await viewer.hosts.list({ teamId: team.id });
    expect(first.total).toBe(31);
    expect(first.rows).toHaveLength(25);
    expect(first.rows[0]?.name).toBe('node-00');
    expect(first.rows[0]?.status).toBe('online');
    expect(first.rows[1]?.status).toBe('offline');
    const second = await viewer.hosts.list({ teamId: team.id, page: 2 });
    const w = second.rows.find((h) => h.name === 'web');
    expect(w).toMatchObject({
      containerCount: 25,
      states: { running: 20, exited: 5 },
      os: inventory.facts.os,
    });
    expect(w?.containers).toHaveLength(20);

    expect((await viewer.hosts.list({ teamId: team.id, search: 'WEB' })).total).toBe(1);
    expect((await viewer.hosts.list({ teamId: team.id, search: 'bookworm' })).total).toBe(1);
    expect((await viewer.hosts.list({ teamId: team.id, labels: ['env=prod'] })).total).toBe(11);
    expect((await viewer.hosts.list({ teamId: team.id, labels: ['env=prod', 'gpu'] })).total).toBe(5);

    const detail = await viewer.hosts.get({ teamId: team.id, hostId: web.id });
    expect(detail).toMatchObject({
      facts: { kernel: '6.18.0', cpus: 2 },
      containerCount: 25,
      status: 'offline',
    });
    expect(await trpcCode(viewer.hosts.get({ teamId: other.id, hostId: web.id }))).toBe('NOT_FOUND');

    expect(await trpcCode(viewer.hosts.rename({ teamId: team.id, hostId: web.id, name: 'web-2' }))).toBe(
      'FORBIDDEN',
    );
    expect(await trpcCode(operator.hosts.setLabels({ teamId: team.id, hostId: web.id, labels: {} }))).toBe(
      'FORBIDDEN',
    );
    expect(await trpcCode(admin.hosts.rename({ teamId: team.id, hostId: web.id, name: 'node-01' }))).toBe(
      'CONFLICT',
    );
    expect(await trpcCode(admin.hosts.rename({ teamId: team.id, hostId: web.id, name: 'bad name!' }))).toBe(
      'BAD_REQUEST',
    );
    await admin.hosts.rename({ teamId: team.id, hostId: web.id, name: 'web-2' });
    await admin.hosts.setLabels({ teamId: team.id, hostId: web.id, labels: { role: 'edge', env: 'prod' } });
    expect(await viewer.hosts.get({ teamId: team.id, hostId: web.id })).toMatchObject({
      name: 'web-2',
      labels: { role: 'edge', env: 'prod' },
    });
    // An admin of one team cannot reach another team's host by its id.
    const foreign = await prisma.host.findFirstOrThrow({ where: { teamId: other.id } });
    expect(await trpcCode(admin.hosts.rename({ teamId: team.id, hostId: foreign.id, name: 'x' }))).toBe(
      'NOT_FOUND',
    );
    const audit = await prisma.auditLog.findMany({ where: { teamId: team.id, target: web.id } });
    expect(audit.map((a) => a.action).sort()).toEqual(['host.labels', 'host.rename']);
  });

  it('an agent of an older protocol is not sent a command it lacks: refused at once, older commands reach it', async () => {
    const prisma = cp.db.db();
    const gateway = await startGatewayServer();
    const { gateway: agents, AgentCommandError } = await import('../agents/gateway');
    const team = await seedTeam(prisma);
    const keys = agentKeys();
    const host = await seedHost(prisma, team.id, { name: 'elder', publicKey: keys.publicKey });
    try {
      const peer = await AgentPeer.open(gateway.url);
      expect(await peer.authenticate(host.id, keys.privateKey, 1)).toMatchObject({
        type: 'welcome',
        updateAvailable: true,
      });
      const containerId = 'c'.repeat(64);
      const refused = await agents()
        .request(host.id, { kind: 'container.recreate', containerId, pull: false }, 60_000)
        .catch((error: Error) => error);
      expect(refused).toBeInstanceOf(AgentCommandError);
      expect(refused).toMatchObject({ code: 'agent_outdated', message: expect.stringMatching(/too old/) });
      expect(peer.frames.some((f) => f.type === 'request')).toBe(false);

      const answered = agents().request(host.id, { kind: 'container.start', containerId }, 10_000);
      const request = await peer.next('request');
      expect(request.command).toEqual({ kind: 'container.start', containerId });
      peer.send({ type: 'result', requestId: request.requestId, ok: true, result: null });
      await expect(answered).resolves.toBeNull();
      peer.close();
    } finally {
      await gateway.close();
    }
  });

  it('revoking a host closes its agent connection and refuses it from then on', async () => {
    const prisma = cp.db.db();
    const gateway = await startGatewayServer();
    const team = await seedTeam(prisma);
    const keys = agentKeys();
    const host = await seedHost(prisma, team.id, { name: 'revokee', publicKey: keys.publicKey });
    const { caller: admin } = await cp.user(team.id, 'admin');
    const { caller: operator } = await cp.user(team.id, 'operator');
    try {
      const peer = await AgentPeer.open(gateway.url);
      expect((await peer.authenticate(host.id, keys.privateKey)).type).toBe('welcome');
      peer.send({ type: 'inventory', inventory: { ...inventory, containers: [] } });
      const until = async (check: () => Promise<boolean>) => {
        const deadline = Date.now() + 10_000;
        while (!(await check())) {
          if (Date.now() > deadline) throw new Error('condition not reached');
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until(
        async () => (await admin.hosts.get({ teamId: team.id, hostId: host.id })).status === 'online',
      );

      expect(await trpcCode(operator.hosts.revoke({ teamId: team.id, hostId: host.id }))).toBe('FORBIDDEN');
      await admin.hosts.revoke({ teamId: team.id, hostId: host.id });
      const refused = await peer.next('refused');
      expect(refused.code).toBe('revoked');
      expect((await peer.closed).code).toBe(1008);
      expect(await admin.hosts.get({ teamId: team.id, hostId: host.id })).toMatchObject({
        status: 'revoked',
        online: false,
      });

      // The same key, a fresh connection: refused at hello, before any challenge.
      const again = await AgentPeer.open(gateway.url);
      const answer = await again.authenticate(host.id, keys.privateKey);
      expect(answer).toMatchObject({ type: 'refused', code: 'revoked' });
      await again.closed;
      expect((await admin.hosts.get({ teamId: team.id, hostId: host.id })).status).toBe('revoked');
      const entries = await prisma.auditLog.findMany({ where: { teamId: team.id, action: 'host.revoke' } });
      expect(entries).toHaveLength(1);
    } finally {
      await gateway.close();
    }
  });
});
