/**
 * Who may open an exec console, decided before any WebSocket exists: same-origin pages only, signed-in
 * callers, operators and above of the host's team; a foreign team or host is not found. Real PostgreSQL and
 * real better-auth sessions.
 */
import { seedHost, seedTeam } from '@berth/db/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlaneHarness, startControlPlane } from '../teams/testing';

describe('exec console authorization', () => {
  let cp: ControlPlaneHarness;
  let authorizeConsole: typeof import('./console').authorizeConsole;

  beforeAll(async () => {
    cp = await startControlPlane('console');
    ({ authorizeConsole } = await import('./console'));
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('refuses other sites, strangers, viewers and foreign hosts; lets operators in', async () => {
    const prisma = cp.db.db();
    const team = await seedTeam(prisma);
    const other = await seedTeam(prisma);
    const host = await seedHost(prisma, team.id, { name: 'bt-console-host', online: true });
    const foreignHost = await seedHost(prisma, other.id, { name: 'bt-console-foreign', online: true });
    const containerId = 'c'.repeat(64);
    const url = (hostId: string, extra = '') =>
      new URL(
        `http://cp.test/api/containers/console?teamId=${team.id}&hostId=${hostId}&containerId=${containerId}${extra}`,
      );
    const headers = (cookie: string | null, origin = 'http://cp.test') => {
      const h = new Headers({ host: 'cp.test', origin });
      if (cookie) h.set('cookie', cookie);
      return h;
    };
    const status = async (promise: Promise<unknown>) => {
      try {
        await promise;
        return 200;
      } catch (error) {
        return (error as { status?: number }).status ?? 500;
      }
    };
    const operator = await cp.user(team.id, 'operator');
    const viewer = await cp.user(team.id, 'viewer');
    const stranger = await cp.user(other.id, 'owner');

    const granted = await authorizeConsole(url(host.id), headers(operator.cookie));
    expect(granted).toMatchObject({ userId: operator.userId, hostName: 'bt-console-host' });
    expect(granted.input).toMatchObject({ rows: 24, cols: 80, containerId });
    expect(await status(authorizeConsole(url(host.id), headers(operator.cookie, 'http://evil.test')))).toBe(
      403,
    );
    expect(await status(authorizeConsole(url(host.id), headers(null)))).toBe(401);
    expect(await status(authorizeConsole(url(host.id), headers(viewer.cookie)))).toBe(403);
    expect(await status(authorizeConsole(url(host.id), headers(stranger.cookie)))).toBe(404);
    expect(await status(authorizeConsole(url(foreignHost.id), headers(operator.cookie)))).toBe(404);
    expect(await status(authorizeConsole(url(host.id, '&rows=0'), headers(operator.cookie)))).toBe(400);
    await prisma.host.update({ where: { id: host.id }, data: { revokedAt: new Date() } });
    expect(await status(authorizeConsole(url(host.id), headers(operator.cookie)))).toBe(404);
  });
});
