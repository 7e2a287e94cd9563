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

export interface EnrollmentTokenOptions {
  /** Hosts it may enrol (1 by default). */
  uses?: number;
  /** Minutes it stays valid (60 by default). */
  expiresInMinutes?: number;
}

export async function createEnrollmentToken(
  teamId: string,
  userId: string,
  options: EnrollmentTokenOptions = {},
): Promise<{ token: string; expiresAt: string; uses: number }> {
  // A prefix names the secret (secret scanners, logs) and keeps it from starting with "-", which the agent's
  // argument parser took for an option one time in 64 (`--enroll-token -x…` is ambiguous).
  const token = `berth_et_${randomBytes(32).toString('base64url')}`;
  const uses = options.uses ?? 1;
  const expiresAt = new Date(Date.now() + (options.expiresInMinutes ?? tokenLifetimeMs / 60_000) * 60_000);
  await db().enrollmentToken.create({
    data: { teamId, tokenHash: hashToken(token), createdBy: userId, expiresAt, uses, usesLeft: uses },
  });
  await recordAudit({
    action: 'host.enrollment_token',
    userId,
    teamId,
    detail: { uses, expiresAt: expiresAt.toISOString() },
  });
  return { token, expiresAt: expiresAt.toISOString(), uses };
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
    // Take one use atomically: agents racing for the last use of a token find nothing left to take.
    const claimed = await tx.enrollmentToken.updateManyAndReturn({
      where: { tokenHash: hashToken(input.token), usesLeft: { gt: 0 }, expiresAt: { gt: now } },
      data: { usesLeft: { decrement: 1 } },
    });
    const token = claimed[0];
    if (!token) throw new EnrollmentError(403, 'the enrolment token is unknown, used up or expired');
    if (token.usesLeft === 0)
      await tx.enrollmentToken.update({ where: { id: token.id }, data: { usedAt: now } });
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
