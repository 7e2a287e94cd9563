/**
 * Operations against a real PostgreSQL and the real gateway, with the real link client as the agent over a
 * real WebSocket: outcomes recorded, secrets never stored, and an operation that outlives the control-plane
 * instance it was asked on (stopped mid-command, a new one on the same address) completes exactly once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControlPlaneLink, LinkBackend } from '@berth/agent/link/client';
import type { Command } from '@berth/agent/protocol/messages';
import { seedTeam } from '@berth/db/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayInstance, linkHost, madeUpFacts, startGatewayInstance } from '../agents/testing';
import { type ControlPlaneHarness, startControlPlane } from '../teams/testing';

const facts = madeUpFacts('bt-ops');

describe('operations', () => {
  let cp: ControlPlaneHarness;
  let ops: typeof import('./service');
  let root: string;
  const instances: GatewayInstance[] = [];
  const links: ControlPlaneLink[] = [];
  const executed: Command[] = [];
  let release: (() => void) | undefined;

  const backend: LinkBackend = {
    facts: async () => facts,
    inventory: async () => ({ facts, containers: [], images: [], volumes: [], networks: [] }),
    async *deltas(signal) {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    },
    async execute(command, progress) {
      executed.push(command);
      if (command.kind === 'image.pull' && command.reference.startsWith('bt-progress/')) {
        progress({ status: `Pulling from ${command.reference}`, id: 'latest' });
        for (const layer of ['aaaaaaaaaaaa', 'bbbbbbbbbbbb'])
          for (let current = 0; current <= 4; current++) {
            progress({
              status: 'Downloading',
              id: layer,
              progressDetail: { current: current * 256, total: 1024 },
            });
            await new Promise((r) => setTimeout(r, 20));
          }
        progress({ status: 'Pull complete', id: 'aaaaaaaaaaaa' });
        progress({ status: 'Pull complete', id: 'bbbbbbbbbbbb' });
        return { id: 'sha256:pulled' };
      }
      if (command.kind === 'container.kill')
        throw Object.assign(new Error('No such container: gone'), { code: 'not_found' });
      if (command.kind === 'image.pull') await new Promise<void>((resolve) => (release = resolve));
      return { done: command.kind };
    },
    openStream: async () => ({}),
  };

  beforeAll(async () => {
    cp = await startControlPlane('ops');
    ops = await import('./service');
    root = await mkdtemp(join(tmpdir(), 'bt-ops-'));
  });
  afterAll(async () => {
    for (const link of links) await link.close();
    for (const instance of instances) await instance.close().catch(() => {});
    await cp?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function host(instance: GatewayInstance): Promise<{ teamId: string; hostId: string }> {
    const dir = await mkdtemp(join(root, 'agent-'));
    const { teamId, hostId, link } = await linkHost(cp, instance, backend, { dir, host: 'bt-ops-host' });
    links.push(link);
    return { teamId, hostId };
  }

  it('records who asked what and how it ended; a registry password is never stored', async () => {
    const a = await startGatewayInstance();
    instances.push(a);
    const { teamId, hostId } = await host(a);
    const user = await cp.user(teamId, 'operator');
    const id = 'e'.repeat(64);
    const run = (command: Command) =>
      ops.runOperation(
        { teamId, hostId, userId: user.userId, command, target: id, timeoutMs: 10_000 },
        a.gateway,
      );
    expect(await run({ kind: 'container.restart', containerId: id })).toEqual({ done: 'container.restart' });
    await expect(run({ kind: 'container.kill', containerId: id })).rejects.toMatchObject({
      code: 'not_found',
    });
    await run({
      kind: 'image.remove',
      reference: 'busybox',
      force: false,
    } as Command);
    const rows = await cp.db.db().operation.findMany({ where: { teamId }, orderBy: { createdAt: 'asc' } });
    expect(rows.map((r) => [r.kind, r.state, r.error])).toEqual([
      ['container.restart', 'succeeded', null],
      ['container.kill', 'failed', 'No such container: gone'],
      ['image.remove', 'succeeded', null],
    ]);
    expect(rows[0]).toMatchObject({ userId: user.userId, target: id, result: { done: 'container.restart' } });

    const listed = await user.caller.operations.list({ teamId });
    expect(listed.operations.map((o) => o.kind)).toEqual([
      'image.remove',
      'container.kill',
      'container.restart',
    ]);
    const foreign = await cp.user((await seedTeam(cp.db.db())).id, 'owner');
    await expect(foreign.caller.operations.list({ teamId })).rejects.toMatchObject({ code: 'NOT_FOUND' });

    // A deploy's registry credentials go to the agent in the command, and nowhere else.
    await ops.runOperation(
      {
        teamId,
        hostId,
        userId: user.userId,
        command: {
          kind: 'container.deploy',
          auth: { serverAddress: 'registry.test', username: 'bt', password: 'bt-secret-value' },
          image: 'registry.test/app:1',
          env: [],
          ports: [],
          volumes: [],
          restartPolicy: 'no',
          labels: {},
        } as Command,
        timeoutMs: 10_000,
      },
      a.gateway,
    );
    expect(executed.at(-1)).toMatchObject({ auth: { password: 'bt-secret-value' } });
    const deploy = await cp.db
      .db()
      .operation.findFirstOrThrow({ where: { teamId, kind: 'container.deploy' } });
    expect(JSON.stringify(deploy)).not.toContain('bt-secret-value');
    expect(deploy.redeliverable).toBe(false);
    await a.close();
    instances.splice(instances.indexOf(a), 1);
  });

  it('survives the instance that asked: stopped mid-command, the next one delivers again and it ends once', async () => {
    const first = await startGatewayInstance();
    instances.push(first);
    const { teamId, hostId } = await host(first);
    const pulls = () => executed.filter((c) => c.kind === 'image.pull').length;
    const before = pulls();
    const asked = ops.runOperation(
      {
        teamId,
        hostId,
        userId: null,
        command: { kind: 'image.pull', reference: 'busybox:latest' } as Command,
        timeoutMs: 60_000,
      },
      first.gateway,
    );
    // Its outcome is read after the instance is gone; hold it from now on so the rejection is not unhandled.
    const outcome = asked.then(
      () => undefined,
      (error: unknown) => error,
    );
    await expect.poll(pulls).toBe(before + 1);
    // The control plane goes away while the agent is still pulling.
    const port = first.port;
    await first.close();
    instances.splice(instances.indexOf(first), 1);
    expect(await outcome).toMatchObject({ name: 'AgentUnavailableError', reason: 'disconnected' });
    const row = await cp.db.db().operation.findFirstOrThrow({ where: { teamId } });
    expect(row.state).toBe('running');

    const next = await startGatewayInstance(port);
    instances.push(next);
    const stop = ops.startOperations(next.gateway);
    try {
      await expect.poll(() => next.gateway.connected().includes(hostId), { timeout: 15_000 }).toBe(true);
      release?.();
      await expect
        .poll(async () => (await cp.db.db().operation.findUniqueOrThrow({ where: { id: row.id } })).state, {
          timeout: 10_000,
        })
        .toBe('succeeded');
      // Redelivered under the same id: answered from what the agent remembered, not pulled again.
      expect(pulls()).toBe(before + 1);
    } finally {
      stop();
    }
  });

  it("keeps a pull's per-layer progress on the row, also when the agent is held by another instance", async () => {
    const holder = await startGatewayInstance();
    const asker = await startGatewayInstance();
    instances.push(holder, asker);
    const { teamId, hostId } = await host(holder);
    for (const via of [holder, asker]) {
      const { id, done } = await ops.startOperation(
        {
          teamId,
          hostId,
          userId: null,
          command: { kind: 'image.pull', reference: 'bt-progress/app:1' } as Command,
          timeoutMs: 30_000,
          followProgress: true,
        },
        via.gateway,
      );
      expect(await done).toEqual({ id: 'sha256:pulled' });
      const row = await cp.db.db().operation.findUniqueOrThrow({ where: { id } });
      expect(row.state).toBe('succeeded');
      expect(row.progress).toEqual({
        status: 'Pulling from bt-progress/app:1',
        layers: [
          { id: 'aaaaaaaaaaaa', status: 'Pull complete' },
          { id: 'bbbbbbbbbbbb', status: 'Pull complete' },
        ],
      });
    }
  });

  it('marks an operation nobody answered before its deadline as timed out', async () => {
    const prisma = cp.db.db();
    const team = await seedTeam(prisma);
    const row = await prisma.operation.create({
      data: {
        id: crypto.randomUUID(),
        teamId: team.id,
        hostId: crypto.randomUUID(),
        kind: 'container.start',
        command: { kind: 'container.start', containerId: 'x' },
        state: 'running',
        deadline: new Date(Date.now() - 60_000),
      },
    });
    expect(await ops.sweepOperations()).toBeGreaterThanOrEqual(1);
    expect(await prisma.operation.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
      state: 'timed_out',
      error: 'no answer from the agent before the deadline',
    });
  });
});
