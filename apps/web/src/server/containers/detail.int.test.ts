/**
 * The container detail page's procedures with real parts: a real engine (runc, conmon) behind the real agent
 * link and backend over a real WebSocket to the real gateway, a real PostgreSQL, and a real registry (Debian's
 * docker-registry with htpasswd auth; the team's saved credential is what lets the agent pull). Inspect through
 * the control plane is the engine's; the state history records start and die with the exit code, newest first,
 * keeps the newest 200 per container and forgets what a full inventory no longer holds; recreate picks up a
 * newer image pushed under the same tag and keeps the container's settings and data; a failing pull leaves the
 * old container running and untouched.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seedTeam } from '@berth/db/seed';
import type { Engine } from '@berth/engine';
import {
  freePort,
  importImage,
  pushImage,
  type StartedRegistry,
  versionedImage,
} from '@berth/engine/testing/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LinkedAgent, startLinkedAgent } from '../agents/testing';
import { startTeamRegistry } from '../registries/testing';
import { type Caller, type ControlPlaneHarness, startControlPlane } from '../teams/testing';

const credentials = { username: 'bt-puller', password: 'bt-pull-password-9' };

describe('container detail: inspect, state history, recreate', () => {
  let cp: ControlPlaneHarness;
  let agent: LinkedAgent;
  let registry: StartedRegistry;
  let engine: Engine;
  let teamId: string;
  let hostId: string;
  let operator: Caller;
  let viewer: Caller;
  let operatorId: string;

  beforeAll(async () => {
    cp = await startControlPlane('detail');
    // The procedures send through this process's gateway: the one the agent is connected to.
    agent = await startLinkedAgent(cp, 'detail', { processGateway: true });
    ({ engine, teamId, hostId } = agent);
    registry = await startTeamRegistry(cp, teamId, credentials);
    const op = await cp.user(teamId, 'operator');
    operator = op.caller;
    operatorId = op.userId;
    viewer = (await cp.user(teamId, 'viewer')).caller;
  });
  afterAll(async () => {
    await agent?.close();
    await registry?.stop();
    await cp?.stop();
  });

  /** The inventory row exists once the agent's delta for the container arrived. */
  async function known(containerId: string): Promise<void> {
    await expect
      .poll(
        async () =>
          cp.db
            .db()
            .hostContainer.count({ where: { hostId, containerId } })
            .then((n) => n === 1),
        { timeout: 10_000 },
      )
      .toBe(true);
  }

  it('inspect through the control plane is the engine’s; the history records start and die with the exit code', async () => {
    const { Id } = await engine.containers.create(
      { Image: 'busybox', Cmd: ['sh', '-c', 'exit 3'], Env: ['BT_SETTING=on'], Labels: { 'bt.app': 'x' } },
      { name: 'bt-detail-exit' },
    );
    await known(Id);
    await engine.containers.start(Id);
    await engine.containers.wait(Id);

    const detail = await viewer.containers.get({ teamId, hostId, containerId: Id });
    expect(detail.host).toEqual({ id: hostId, name: 'bt-detail-host', online: true });
    expect(detail.inspectError).toBeNull();
    expect(detail.inspect).toEqual(JSON.parse(JSON.stringify(engine.containers.inspect(Id))));
    expect(detail.inspect?.State.ExitCode).toBe(3);
    expect(detail.inspect?.Config.Env).toContain('BT_SETTING=on');

    await expect
      .poll(
        async () =>
          (await viewer.containers.history({ teamId, hostId, containerId: Id })).map((h) => h.action),
        {
          timeout: 10_000,
        },
      )
      .toEqual(['die', 'start', 'create']);
    const history = await viewer.containers.history({ teamId, hostId, containerId: Id });
    expect(history[0]).toMatchObject({ action: 'die', exitCode: 3, name: 'bt-detail-exit' });
    expect(history[1]?.exitCode).toBeNull();
    expect(Date.parse(history[0]?.time ?? '')).toBeGreaterThanOrEqual(Date.parse(history[1]?.time ?? ''));

    // Removing the container forgets its history; another team learns nothing of it.
    const stranger = (await cp.user((await seedTeam(cp.db.db())).id, 'owner')).caller;
    await expect(stranger.containers.get({ teamId, hostId, containerId: Id })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await engine.containers.remove(Id);
    await expect
      .poll(() => cp.db.db().containerStateEvent.count({ where: { hostId, containerId: Id } }), {
        timeout: 10_000,
      })
      .toBe(0);
    await expect(viewer.containers.get({ teamId, hostId, containerId: Id })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('usage through the control plane: CPU time rising, memory against its limit, pids; zeros once stopped', async () => {
    const { Id } = await engine.containers.create(
      {
        Image: 'busybox',
        Cmd: ['sh', '-c', 'while :; do :; done'],
        HostConfig: { Memory: 32 * 1024 * 1024, PidsLimit: 10 },
      },
      { name: 'bt-detail-usage' },
    );
    try {
      await engine.containers.start(Id);
      const first = await viewer.containers.usage({ teamId, hostId, containerId: Id });
      await new Promise((r) => setTimeout(r, 500));
      const second = await viewer.containers.usage({ teamId, hostId, containerId: Id });
      expect(first).toMatchObject({ running: true, memoryLimit: 32 * 1024 * 1024, pids: 1, pidsLimit: 10 });
      expect(second.cpuTotal).toBeGreaterThan(first.cpuTotal);
      expect(second.systemCpu).toBeGreaterThan(first.systemCpu);
      expect(second.memoryUsed).toBeGreaterThan(0);
      await engine.containers.stop(Id, { timeout: 0 });
      expect(await viewer.containers.usage({ teamId, hostId, containerId: Id })).toMatchObject({
        running: false,
        cpuTotal: 0,
        pids: null,
      });
      await expect(
        viewer.containers.usage({ teamId, hostId, containerId: 'f'.repeat(64) }),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      await engine.containers.remove(Id, { force: true });
    }
  });

  it('recreate pulls the newer image under the same tag with the team’s credential and keeps the settings', async () => {
    const reference = `${registry.host}/bt-detail/app:stable`;
    await pushImage(reference, await versionedImage('1'), { credentials });
    const v1 = await engine.images.pull(reference, { credentials });
    const port = await freePort();
    const volume = `bt-detail-data-${Date.now()}`;
    const { Id: oldId } = await engine.containers.create(
      {
        Image: reference,
        Env: ['MINE=kept'],
        Labels: { 'bt.mine': 'a' },
        StopTimeout: 1,
        HostConfig: {
          Binds: [`${volume}:/data`],
          PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] },
          RestartPolicy: { Name: 'always', MaximumRetryCount: 0 },
        },
      },
      { name: 'bt-detail-web' },
    );
    await engine.containers.start(oldId);
    await writeFile(join(engine.volumes.mountpoint(volume), 'kept.txt'), 'volume data');
    await known(oldId);
    await pushImage(reference, await versionedImage('2'), { credentials });

    await expect(
      viewer.containers.recreate({ teamId, hostId, containerId: oldId, pull: true }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const { operationId } = await operator.containers.recreate({
      teamId,
      hostId,
      containerId: oldId,
      pull: true,
    });
    await expect
      .poll(async () => (await viewer.containers.recreateStatus({ teamId, operationId })).state, {
        timeout: 60_000,
      })
      .toBe('succeeded');
    const status = await viewer.containers.recreateStatus({ teamId, operationId });
    expect(status.result).toMatchObject({ previousId: oldId, name: 'bt-detail-web', previousImageId: v1.Id });
    const newId = status.result?.id as string;
    expect(newId).not.toBe(oldId);
    expect(status.result?.imageId).toBe((await engine.images.inspect(reference)).Id);
    expect(status.result?.imageId).not.toBe(v1.Id);

    const after = engine.containers.inspect(newId);
    expect(after.Name).toBe('/bt-detail-web');
    expect(after.State.Running).toBe(true);
    expect(after.Config.Env).toEqual(expect.arrayContaining(['MINE=kept', 'APP_VERSION=2']));
    expect(after.Config.Labels).toMatchObject({ 'bt.mine': 'a', 'bt.image.version': '2' });
    const hostConfig = after.HostConfig as Record<string, unknown>;
    expect(hostConfig.RestartPolicy).toEqual({ Name: 'always', MaximumRetryCount: 0 });
    expect(hostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
    expect(after.Mounts.find((m) => m.Destination === '/data')?.Name).toBe(volume);
    expect(await readFile(join(engine.volumes.mountpoint(volume), 'kept.txt'), 'utf8')).toBe('volume data');
    expect(engine.containers.has(oldId)).toBe(false);

    // The rows follow: the new container is known under the name, the old one is gone.
    await known(newId);
    await expect
      .poll(() => cp.db.db().hostContainer.count({ where: { hostId, containerId: oldId } }), {
        timeout: 10_000,
      })
      .toBe(0);
    // Audited, and the registry password went to the agent only.
    const operation = await cp.db.db().operation.findUniqueOrThrow({ where: { id: operationId } });
    expect(JSON.stringify(operation.command)).not.toContain(credentials.password);
    expect(operation).toMatchObject({ kind: 'container.recreate', userId: operatorId, redeliverable: false });
    await expect
      .poll(
        async () =>
          (
            await cp.db.db().auditLog.findFirst({
              where: { teamId, action: 'container.recreate', target: `${hostId}/${oldId}` },
            })
          )?.detail,
        { timeout: 10_000 },
      )
      .toMatchObject({ ok: true, pull: true, credentials: registry.host, newContainer: newId });
  });

  it('keeps the newest 200 transitions per container; a full inventory forgets containers it no longer has', async () => {
    const history = await import('./history');
    const containerId = 'b'.repeat(64);
    const other = 'c'.repeat(64);
    const event = (id: string, n: number) => ({
      type: 'event' as const,
      event: {
        Type: 'container',
        Action: n % 2 ? 'die' : 'start',
        Actor: { ID: id, Attributes: { name: 'bt-bounded', exitCode: String(n % 256) } },
        time: 1_700_000_000 + n,
        timeNano: (1_700_000_000 + n) * 1e9,
      },
    });
    for (let n = 0; n < 205; n++) await history.recordStateEvent(hostId, teamId, event(containerId, n));
    await history.recordStateEvent(hostId, teamId, event(other, 1));
    // Not a transition: nothing recorded.
    await history.recordStateEvent(hostId, teamId, {
      ...event(other, 2),
      event: { ...event(other, 2).event, Action: 'exec_start: sh' },
    });
    const kept = await viewer.containers.history({ teamId, hostId, containerId, limit: 200 });
    expect(kept).toHaveLength(200);
    expect(kept[0]).toMatchObject({ action: 'start', exitCode: null });
    expect(kept[1]).toMatchObject({ action: 'die', exitCode: 203 });
    expect(kept.at(-1)).toMatchObject({ action: 'die', exitCode: 5 });
    expect(await cp.db.db().containerStateEvent.count({ where: { hostId, containerId: other } })).toBe(1);
    await history.forgetVanished(hostId, [other]);
    expect(await cp.db.db().containerStateEvent.count({ where: { hostId, containerId } })).toBe(0);
    expect(await cp.db.db().containerStateEvent.count({ where: { hostId, containerId: other } })).toBe(1);
    await history.forgetVanished(hostId, []);
  });

  it('a failing pull leaves the old container running and untouched', async () => {
    // A registry nobody listens on: the pull is refused at once.
    const reference = `127.0.0.1:${await freePort()}/bt-detail/gone:1`;
    await importImage(engine, await versionedImage('1'), reference);
    const { Id } = await engine.containers.create(
      { Image: reference, StopTimeout: 1 },
      { name: 'bt-detail-stay' },
    );
    await engine.containers.start(Id);
    await known(Id);
    const before = engine.containers.inspect(Id);

    const { operationId } = await operator.containers.recreate({
      teamId,
      hostId,
      containerId: Id,
      pull: true,
    });
    await expect
      .poll(async () => (await viewer.containers.recreateStatus({ teamId, operationId })).state, {
        timeout: 30_000,
      })
      .toBe('failed');
    const status = await viewer.containers.recreateStatus({ teamId, operationId });
    expect(status.error).toMatch(/^recreate failed at pull: .*the old container was left as it was/);
    expect(status.result).toBeNull();
    const after = engine.containers.inspect(Id);
    expect(after.State.Running).toBe(true);
    expect(after.State.StartedAt).toBe(before.State.StartedAt);
    expect(after.Name).toBe('/bt-detail-stay');
    expect(
      engine.containers.list({ all: true }).filter((c) => c.Names[0] === '/bt-detail-stay'),
    ).toHaveLength(1);
    await expect
      .poll(
        async () =>
          (
            await cp.db.db().auditLog.findFirst({
              where: { teamId, action: 'container.recreate', target: `${hostId}/${Id}` },
            })
          )?.detail,
        { timeout: 10_000 },
      )
      .toMatchObject({ ok: false });
  });
});
