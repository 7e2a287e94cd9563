/**
 * The first visit: while no user exists, the visitor may create the owner account, with its team. A
 * session-level advisory lock on a connection of its own serialises first visits across control-plane
 * instances, so exactly one owner is made.
 */
import pg from 'pg';
import { env } from '../../env';
import { recordAudit } from '../audit';
import { auth } from '../auth';
import { db } from '../db';
import type { OwnerInput } from './schemas';

const ownerLock = 0x4f776e6572; // "Owner"

export class OwnerExistsError extends Error {
  override readonly name = 'OwnerExistsError';
}

export async function needsOwner(): Promise<boolean> {
  return (await db().user.count()) === 0;
}

export async function createOwner(
  input: OwnerInput,
  headers: Headers,
): Promise<{ userId: string; teamId: string }> {
  const lock = new pg.Client({ connectionString: env().DATABASE_URL });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [ownerLock]);
    const users = await lock.query<{ count: string }>('SELECT count(*) FROM "user"');
    if (Number(users.rows[0]?.count ?? 0) > 0)
      throw new OwnerExistsError('The owner account already exists; sign in instead.');
    const result = await auth().api.signUpEmail({
      body: { name: input.name, email: input.email, password: input.password },
      headers,
    });
    try {
      return await db().$transaction(async (tx) => {
        const team = await tx.team.create({ data: { name: input.teamName } });
        await tx.membership.create({ data: { teamId: team.id, userId: result.user.id, role: 'owner' } });
        await recordAudit(
          { action: 'auth.sign_up', userId: result.user.id, teamId: team.id, detail: { role: 'owner' } },
          tx,
        );
        return { userId: result.user.id, teamId: team.id };
      });
    } catch (error) {
      // A user without the owner's team would end the first visit for good: take the account back (its
      // sessions and credentials go with it), so the visitor can try again.
      await db()
        .user.delete({ where: { id: result.user.id } })
        .catch(() => {});
      throw error;
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [ownerLock]).catch(() => {});
    await lock.end();
  }
}
