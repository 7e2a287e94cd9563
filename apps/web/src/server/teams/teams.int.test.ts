/**
 * Teams against a real PostgreSQL: invitation links (sign-up with one, join with one, expired, used twice,
 * withdrawn), role changes by admins, owners kept (the last one can be neither demoted nor removed), a second
 * team whose hosts the first team's members cannot see.
 */
import { seedHost } from '@berth/db/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlaneHarness, startControlPlane, trpcCode } from './testing';

let cp: ControlPlaneHarness;

const tokenOf = (path: string) => path.replace('/invite/', '');

describe('teams', () => {
  beforeAll(async () => {
    cp = await startControlPlane('teams');
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('invites by link: a newcomer signs up as viewer once; expired and withdrawn links are refused', async () => {
    const prisma = cp.db.db();
    const team = await prisma.team.create({ data: { name: 'Ops' } });
    const { caller: owner } = await cp.user(team.id, 'owner');
    const { caller: admin } = await cp.user(team.id, 'admin');
    const { caller: operator } = await cp.user(team.id, 'operator');
    const anonymous = cp.router.appRouter.createCaller(
      await cp.init.createContext({ headers: new Headers() }),
    );

    expect(await trpcCode(operator.teams.invite({ teamId: team.id, role: 'viewer' }))).toBe('FORBIDDEN');
    expect(await trpcCode(admin.teams.invite({ teamId: team.id, role: 'owner' }))).toBe('FORBIDDEN');
    const link = await admin.teams.invite({ teamId: team.id, role: 'viewer' });
    const token = tokenOf(link.path);
    // Only the hash is stored.
    expect(JSON.stringify(await prisma.invitation.findMany())).not.toContain(token);
    expect(await anonymous.invitations.peek({ token })).toEqual({
      teamName: 'Ops',
      role: 'viewer',
      state: 'valid',
    });

    const weak = { token, name: 'Vic', email: 'vic@example.test', password: 'short' };
    expect(await trpcCode(anonymous.invitations.signUp(weak))).toBe('BAD_REQUEST');
    const joined = await anonymous.invitations.signUp({ ...weak, password: 'a long enough password' });
    expect(joined).toEqual({ teamId: team.id, role: 'viewer' });
    const vic = await prisma.user.findUniqueOrThrow({ where: { email: 'vic@example.test' } });
    expect((await owner.teams.members({ teamId: team.id })).find((m) => m.userId === vic.id)?.role).toBe(
      'viewer',
    );
    // A link works once.
    expect(
      await trpcCode(
        anonymous.invitations.signUp({ ...weak, email: 'eve@example.test', password: 'another long one' }),
      ),
    ).toBe('PRECONDITION_FAILED');
    expect((await anonymous.invitations.peek({ token })).state).toBe('used');
    expect(await prisma.user.findUnique({ where: { email: 'eve@example.test' } })).toBeNull();

    // Expired.
    const old = await admin.teams.invite({ teamId: team.id, role: 'operator', expiresInHours: 1 });
    await prisma.invitation.updateMany({
      where: { teamId: team.id, role: 'operator' },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    expect((await anonymous.invitations.peek({ token: tokenOf(old.path) })).state).toBe('expired');
    expect(
      await trpcCode(
        anonymous.invitations.signUp({
          token: tokenOf(old.path),
          name: 'L',
          email: 'late@example.test',
          password: 'a long enough password',
        }),
      ),
    ).toBe('PRECONDITION_FAILED');

    // Withdrawn; and an existing user joins with a link when signed in (a duplicate email is told to sign in).
    const third = await admin.teams.invite({ teamId: team.id, role: 'operator' });
    const pending = await admin.teams.invitations({ teamId: team.id });
    expect(pending.map((p) => p.expired).sort()).toEqual([false, true]);
    const withdrawnId = pending.find((p) => !p.expired)?.id as string;
    await admin.teams.withdrawInvitation({ teamId: team.id, invitationId: withdrawnId });
    expect((await anonymous.invitations.peek({ token: tokenOf(third.path) })).state).toBe('withdrawn');
    const fourth = await admin.teams.invite({ teamId: team.id, role: 'operator' });
    expect(
      await trpcCode(
        anonymous.invitations.signUp({
          token: tokenOf(fourth.path),
          name: 'V',
          email: 'vic@example.test',
          password: 'a long enough password',
        }),
      ),
    ).toBe('CONFLICT');
    const { caller: outsider, userId: outsiderId } = await cp.user(null);
    await outsider.invitations.accept({ token: tokenOf(fourth.path) });
    expect((await owner.teams.members({ teamId: team.id })).find((m) => m.userId === outsiderId)?.role).toBe(
      'operator',
    );
    expect(await trpcCode(anonymous.invitations.peek({ token: 'x'.repeat(43) }))).toBe('OK');
    expect((await anonymous.invitations.peek({ token: 'x'.repeat(43) })).state).toBe('unknown');
    const actions = (await prisma.auditLog.findMany({ where: { teamId: team.id } })).map((a) => a.action);
    expect(actions.filter((a) => a === 'team.invite')).toHaveLength(4);
    expect(actions.filter((a) => a === 'team.invitation_accepted')).toHaveLength(2);
  });

  it('admins change roles below owner; the last owner stays; a second team stays apart', async () => {
    const prisma = cp.db.db();
    const team = await prisma.team.create({ data: { name: 'Platform' } });
    const { caller: owner, userId: ownerId } = await cp.user(team.id, 'owner');
    const { caller: admin, userId: adminId } = await cp.user(team.id, 'admin');
    const { caller: viewer, userId: viewerId } = await cp.user(team.id, 'viewer');

    expect(await trpcCode(viewer.teams.setRole({ teamId: team.id, userId: viewerId, role: 'admin' }))).toBe(
      'FORBIDDEN',
    );
    await admin.teams.setRole({ teamId: team.id, userId: viewerId, role: 'operator' });
    expect(await trpcCode(admin.teams.setRole({ teamId: team.id, userId: viewerId, role: 'owner' }))).toBe(
      'FORBIDDEN',
    );
    expect(await trpcCode(admin.teams.setRole({ teamId: team.id, userId: ownerId, role: 'viewer' }))).toBe(
      'FORBIDDEN',
    );
    expect(await trpcCode(admin.teams.removeMember({ teamId: team.id, userId: ownerId }))).toBe('FORBIDDEN');
    // The last owner can neither step down nor leave, nor be removed by themselves.
    expect(await trpcCode(owner.teams.setRole({ teamId: team.id, userId: ownerId, role: 'admin' }))).toBe(
      'CONFLICT',
    );
    expect(await trpcCode(owner.teams.leave({ teamId: team.id }))).toBe('CONFLICT');
    expect(await trpcCode(owner.teams.removeMember({ teamId: team.id, userId: ownerId }))).toBe('CONFLICT');
    // With a second owner, the first may step down.
    await owner.teams.setRole({ teamId: team.id, userId: adminId, role: 'owner' });
    await owner.teams.setRole({ teamId: team.id, userId: ownerId, role: 'admin' });
    const roles = Object.fromEntries(
      (await admin.teams.members({ teamId: team.id })).map((m) => [m.userId, m.role]),
    );
    expect(roles).toEqual({ [ownerId]: 'admin', [adminId]: 'owner', [viewerId]: 'operator' });
    await admin.teams.removeMember({ teamId: team.id, userId: viewerId });
    expect(await trpcCode(viewer.teams.members({ teamId: team.id }))).toBe('NOT_FOUND');

    // A second team, made by a member of the first: its hosts are not the first team's.
    const { teamId: second } = await admin.teams.create({ name: 'Edge' });
    await seedHost(prisma, second, { name: 'edge-1' });
    await seedHost(prisma, team.id, { name: 'core-1' });
    expect((await admin.hosts.list({ teamId: second })).rows.map((h) => h.name)).toEqual(['edge-1']);
    expect((await owner.hosts.list({ teamId: team.id })).rows.map((h) => h.name)).toEqual(['core-1']);
    expect(await trpcCode(owner.hosts.list({ teamId: second }))).toBe('NOT_FOUND');
    const edge = await prisma.host.findFirstOrThrow({ where: { teamId: second } });
    expect(await trpcCode(owner.hosts.get({ teamId: team.id, hostId: edge.id }))).toBe('NOT_FOUND');
    expect((await admin.me()).teams.map((t) => t.teamName).sort()).toEqual(['Edge', 'Platform']);
  });
});
