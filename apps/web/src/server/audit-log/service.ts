/** The team's audit log for admins: newest first, filtered by action prefix, paged by cursor. */
import { db } from '../db';
import type { AuditListInput } from './schemas';

export interface AuditRow {
  id: string;
  at: string;
  action: string;
  actor: string | null;
  target: string | null;
  detail: unknown;
  ip: string | null;
}

export async function listAudit(
  input: AuditListInput,
): Promise<{ rows: AuditRow[]; nextCursor: string | null }> {
  const entries = await db().auditLog.findMany({
    where: { teamId: input.teamId, ...(input.action ? { action: { startsWith: input.action } } : {}) },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: input.limit + 1,
    ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
  });
  const page = entries.slice(0, input.limit);
  const userIds = [...new Set(page.map((e) => e.userId).filter((id): id is string => Boolean(id)))];
  const users = new Map(
    (await db().user.findMany({ where: { id: { in: userIds } }, select: { id: true, email: true } })).map(
      (u) => [u.id, u.email],
    ),
  );
  return {
    rows: page.map((e) => ({
      id: e.id,
      at: e.createdAt.toISOString(),
      action: e.action,
      actor: e.userId ? (users.get(e.userId) ?? e.userId) : null,
      target: e.target,
      detail: e.detail,
      ip: e.ip,
    })),
    nextCursor: entries.length > input.limit ? (page.at(-1)?.id ?? null) : null,
  };
}
