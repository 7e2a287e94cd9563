/** The audit log: who did what to which object, never with secrets in `detail`. */
import type { Db } from '@berth/db/client';
import { db } from './db';

export interface AuditEntry {
  action: string;
  userId?: string | null;
  teamId?: string | null;
  target?: string | null;
  detail?: Record<string, string | number | boolean | null>;
  ip?: string | null;
}

/** Writes one entry; pass the transaction client when the entry belongs to a transaction's changes. */
export async function recordAudit(entry: AuditEntry, client: Pick<Db, 'auditLog'> = db()): Promise<void> {
  await client.auditLog.create({
    data: {
      action: entry.action,
      userId: entry.userId ?? null,
      teamId: entry.teamId ?? null,
      target: entry.target ?? null,
      ip: entry.ip ?? null,
      ...(entry.detail ? { detail: entry.detail } : {}),
    },
  });
}

export async function teamOfUser(userId: string): Promise<string | null> {
  const membership = await db().membership.findFirst({ where: { userId }, orderBy: { createdAt: 'asc' } });
  return membership?.teamId ?? null;
}
