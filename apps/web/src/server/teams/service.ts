/**
 * Teams: members and their roles, invitation links, and more teams. The rules Docker/Portainer users expect:
 * admins manage members below owner; only an owner makes or unmakes an owner; the last owner can be neither
 * demoted nor removed (checked under a row lock, so two admins acting at once cannot both pass).
 */
import { createHash, randomBytes } from 'node:crypto';
import { recordAudit } from '../audit';
import { auth } from '../auth';
import { db } from '../db';
import { hasRole, type Role } from './roles';
import type { InvitationSignUpInput, Member, PendingInvitation } from './schemas';

export class TeamRuleError extends Error {
  override readonly name = 'TeamRuleError';
  constructor(
    readonly code: 'not_found' | 'forbidden' | 'conflict' | 'gone',
    message: string,
  ) {
    super(message);
  }
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export async function createTeam(name: string, userId: string): Promise<{ teamId: string }> {
  return db().$transaction(async (tx) => {
    const team = await tx.team.create({ data: { name } });
    await tx.membership.create({ data: { teamId: team.id, userId, role: 'owner' } });
    await recordAudit({ action: 'team.create', userId, teamId: team.id, detail: { name } }, tx);
    return { teamId: team.id };
  });
}

export async function listMembers(teamId: string): Promise<Member[]> {
  const rows = await db().membership.findMany({
    where: { teamId },
    include: { user: { select: { name: true, email: true } } },
    orderBy: { createdAt: 'asc' },
  });
  return rows.map((m) => ({
    userId: m.userId,
    name: m.user.name,
    email: m.user.email,
    role: m.role,
    joinedAt: m.createdAt.toISOString(),
  }));
}

/** Makes an invitation link; the secret is returned once and only its hash is kept. */
export async function createInvitation(
  teamId: string,
  actor: { userId: string; role: Role },
  input: { role: Role; expiresInHours: number },
): Promise<{ path: string; expiresAt: string }> {
  if (input.role === 'owner' && actor.role !== 'owner')
    throw new TeamRuleError('forbidden', 'Only an owner can invite another owner.');
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + input.expiresInHours * 3_600_000);
  const invitation = await db().invitation.create({
    data: { teamId, role: input.role, tokenHash: hashToken(token), createdBy: actor.userId, expiresAt },
  });
  await recordAudit({
    action: 'team.invite',
    userId: actor.userId,
    teamId,
    target: invitation.id,
    detail: { role: input.role, expiresAt: expiresAt.toISOString() },
  });
  return { path: `/invite/${token}`, expiresAt: expiresAt.toISOString() };
}

export async function listInvitations(teamId: string): Promise<PendingInvitation[]> {
  const rows = await db().invitation.findMany({
    where: { teamId, acceptedAt: null, withdrawnAt: null },
    orderBy: { createdAt: 'desc' },
    take: 200,
  });
  const now = Date.now();
  return rows.map((i) => ({
    id: i.id,
    role: i.role,
    createdAt: i.createdAt.toISOString(),
    expiresAt: i.expiresAt.toISOString(),
    expired: i.expiresAt.getTime() <= now,
  }));
}

export async function withdrawInvitation(
  teamId: string,
  invitationId: string,
  userId: string,
): Promise<void> {
  const { count } = await db().invitation.updateMany({
    where: { id: invitationId, teamId, acceptedAt: null, withdrawnAt: null },
    data: { withdrawnAt: new Date() },
  });
  if (count === 0) throw new TeamRuleError('not_found', 'No such pending invitation.');
  await recordAudit({ action: 'team.invitation_withdrawn', userId, teamId, target: invitationId });
}

type InvitationState = 'valid' | 'expired' | 'used' | 'withdrawn';

/** What an invitation link leads to, for its page (no secret, no member list). */
export async function peekInvitation(
  token: string,
): Promise<{ teamName: string; role: Role; state: InvitationState } | null> {
  const invitation = await db().invitation.findUnique({
    where: { tokenHash: hashToken(token) },
    include: { team: { select: { name: true } } },
  });
  if (!invitation) return null;
  const state: InvitationState = invitation.acceptedAt
    ? 'used'
    : invitation.withdrawnAt
      ? 'withdrawn'
      : invitation.expiresAt.getTime() <= Date.now()
        ? 'expired'
        : 'valid';
  return { teamName: invitation.team.name, role: invitation.role, state };
}

const refusal: Record<Exclude<InvitationState, 'valid'>, string> = {
  expired: 'This invitation has expired. Ask an admin of the team for a new link.',
  used: 'This invitation was already used.',
  withdrawn: 'This invitation was withdrawn by an admin of the team.',
};

async function ensureUsable(token: string) {
  const peeked = await peekInvitation(token);
  if (!peeked) throw new TeamRuleError('not_found', 'This invitation link is not valid.');
  if (peeked.state !== 'valid') throw new TeamRuleError('gone', refusal[peeked.state]);
  return peeked;
}

/** Claims the invitation and adds the member in one transaction: a link used twice at once admits one person. */
async function claim(token: string, userId: string): Promise<{ teamId: string; role: Role }> {
  return db().$transaction(async (tx) => {
    const now = new Date();
    const [claimed] = await tx.invitation.updateManyAndReturn({
      where: { tokenHash: hashToken(token), acceptedAt: null, withdrawnAt: null, expiresAt: { gt: now } },
      data: { acceptedAt: now, acceptedBy: userId },
    });
    if (!claimed) throw new TeamRuleError('gone', 'This invitation is no longer valid.');
    const existing = await tx.membership.findUnique({
      where: { teamId_userId: { teamId: claimed.teamId, userId } },
    });
    if (existing) throw new TeamRuleError('conflict', 'You are already a member of this team.');
    await tx.membership.create({ data: { teamId: claimed.teamId, userId, role: claimed.role } });
    await recordAudit(
      {
        action: 'team.invitation_accepted',
        userId,
        teamId: claimed.teamId,
        target: claimed.id,
        detail: { role: claimed.role },
      },
      tx,
    );
    return { teamId: claimed.teamId, role: claimed.role };
  });
}

/** A signed-in user joins with a link. */
export async function acceptInvitation(token: string, userId: string) {
  await ensureUsable(token);
  return claim(token, userId);
}

/** A newcomer makes an account with a link (the only way, besides the owner's first visit, to get one). */
export async function signUpWithInvitation(input: InvitationSignUpInput, headers: Headers) {
  await ensureUsable(input.token);
  if (await db().user.findUnique({ where: { email: input.email }, select: { id: true } }))
    throw new TeamRuleError(
      'conflict',
      'An account with this email already exists: sign in, then open the invitation link again.',
    );
  const { user } = await auth().api.signUpEmail({
    body: { name: input.name, email: input.email, password: input.password },
    headers,
  });
  try {
    return await claim(input.token, user.id);
  } catch (error) {
    // The link was used or withdrawn meanwhile: no account without a team is left behind.
    await db()
      .user.delete({ where: { id: user.id } })
      .catch(() => {});
    throw error;
  }
}

async function lockedOwners(
  tx: Parameters<Parameters<ReturnType<typeof db>['$transaction']>[0]>[0],
  teamId: string,
) {
  const rows = await tx.$queryRaw<Array<{ userId: string }>>`
    SELECT "userId" FROM "membership" WHERE "teamId" = ${teamId} AND "role" = 'owner' FOR UPDATE`;
  return rows.map((r) => r.userId);
}

export async function setMemberRole(
  teamId: string,
  actor: { userId: string; role: Role },
  userId: string,
  role: Role,
): Promise<void> {
  await db().$transaction(async (tx) => {
    const owners = await lockedOwners(tx, teamId);
    const member = await tx.membership.findUnique({ where: { teamId_userId: { teamId, userId } } });
    if (!member) throw new TeamRuleError('not_found', 'No such member of this team.');
    if ((role === 'owner' || member.role === 'owner') && actor.role !== 'owner')
      throw new TeamRuleError('forbidden', 'Only an owner can make or unmake an owner.');
    if (!hasRole(actor.role, 'admin')) throw new TeamRuleError('forbidden', 'This needs the admin role.');
    if (member.role === 'owner' && role !== 'owner' && owners.length <= 1)
      throw new TeamRuleError(
        'conflict',
        'The last owner cannot be demoted: make another member owner first.',
      );
    await tx.membership.update({ where: { id: member.id }, data: { role } });
    await recordAudit(
      {
        action: 'team.role_change',
        userId: actor.userId,
        teamId,
        target: userId,
        detail: { from: member.role, to: role },
      },
      tx,
    );
  });
}

/** Removes a member (an admin removing someone, or a member leaving: `actor.userId === userId`). */
export async function removeMember(teamId: string, actor: { userId: string; role: Role }, userId: string) {
  await db().$transaction(async (tx) => {
    const owners = await lockedOwners(tx, teamId);
    const member = await tx.membership.findUnique({ where: { teamId_userId: { teamId, userId } } });
    if (!member) throw new TeamRuleError('not_found', 'No such member of this team.');
    const self = actor.userId === userId;
    if (!self && !hasRole(actor.role, 'admin'))
      throw new TeamRuleError('forbidden', 'This needs the admin role.');
    if (!self && member.role === 'owner' && actor.role !== 'owner')
      throw new TeamRuleError('forbidden', 'Only an owner can remove an owner.');
    if (member.role === 'owner' && owners.length <= 1)
      throw new TeamRuleError(
        'conflict',
        'The last owner cannot be removed: make another member owner first.',
      );
    await tx.membership.delete({ where: { id: member.id } });
    await recordAudit(
      { action: self ? 'team.leave' : 'team.member_removed', userId: actor.userId, teamId, target: userId },
      tx,
    );
  });
}
