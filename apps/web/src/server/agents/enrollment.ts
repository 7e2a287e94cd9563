/**
 * Adding a host: an admin asks for a one-time token (valid one hour; only its hash is stored), the agent
 * trades it with its public key for a host record. The key is what the agent proves on every connection.
 */
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { recordAudit } from '../audit';
import { db } from '../db';
import type { EnrollInput } from './schemas';

const tokenLifetimeMs = 60 * 60 * 1000;

export class EnrollmentError extends Error {
  override readonly name = 'EnrollmentError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export async function createEnrollmentToken(
  teamId: string,
  userId: string,
): Promise<{ token: string; expiresAt: string }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + tokenLifetimeMs);
  await db().enrollmentToken.create({
    data: { teamId, tokenHash: hashToken(token), createdBy: userId, expiresAt },
  });
  await recordAudit({ action: 'host.enrollment_token', userId, teamId });
  return { token, expiresAt: expiresAt.toISOString() };
}

export async function enrollHost(input: EnrollInput, ip: string | null): Promise<{ hostId: string }> {
  try {
    const key = createPublicKey({ key: Buffer.from(input.publicKey, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
  } catch {
    throw new EnrollmentError(400, 'publicKey must be an Ed25519 public key (SPKI DER, base64)');
  }
  return db().$transaction(async (tx) => {
    const now = new Date();
    // Claim the token atomically: a second agent racing with the same token finds nothing left to claim.
    const claimed = await tx.enrollmentToken.updateManyAndReturn({
      where: { tokenHash: hashToken(input.token), usedAt: null, expiresAt: { gt: now } },
      data: { usedAt: now },
    });
    const token = claimed[0];
    if (!token) throw new EnrollmentError(403, 'the enrolment token is unknown, used or expired');
    const existing = await tx.host.findUnique({ where: { publicKey: input.publicKey } });
    if (existing) throw new EnrollmentError(409, 'this agent is already enrolled');
    const base = input.facts.hostname.replace(/[^a-zA-Z0-9._-]/g, '-').slice(0, 60) || 'host';
    let name = base;
    for (let n = 2; await tx.host.findUnique({ where: { teamId_name: { teamId: token.teamId, name } } }); n++)
      name = `${base}-${n}`;
    const host = await tx.host.create({ data: { teamId: token.teamId, name, publicKey: input.publicKey } });
    await recordAudit(
      {
        action: 'host.enrolled',
        teamId: token.teamId,
        userId: token.createdBy,
        target: host.id,
        ip,
        detail: { name },
      },
      tx,
    );
    return { hostId: host.id };
  });
}
