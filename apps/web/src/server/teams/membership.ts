import { db } from '../db';
import type { Role } from './roles';

export interface TeamMembership {
  teamId: string;
  teamName: string;
  role: Role;
}

export async function membershipsOf(userId: string): Promise<TeamMembership[]> {
  const rows = await db().membership.findMany({
    where: { userId },
    include: { team: true },
    orderBy: { createdAt: 'asc' },
  });
  return rows.map((row) => ({ teamId: row.teamId, teamName: row.team.name, role: row.role }));
}

export async function roleIn(userId: string, teamId: string): Promise<Role | null> {
  const row = await db().membership.findUnique({ where: { teamId_userId: { teamId, userId } } });
  return row?.role ?? null;
}
