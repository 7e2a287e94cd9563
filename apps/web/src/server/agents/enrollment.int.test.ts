/**
 * Enrolment tokens on a real PostgreSQL: a token for N hosts enrols exactly N, also when agents race for its
 * last uses; an expired or unknown one enrols nobody; the token itself is never stored.
 */
import { generateKeyPairSync } from 'node:crypto';
import { seedTeam } from '@berth/db/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlaneHarness, startControlPlane } from '../teams/testing';

const facts = {
  hostname: 'bt-enrol',
  os: 'Debian',
  kernel: '6',
  arch: 'x64',
  cpus: 1,
  memoryBytes: 1,
  runtimes: {},
  agentVersion: 'test',
};

function publicKey(): string {
  return generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
}

describe('enrolment tokens', () => {
  let cp: ControlPlaneHarness;
  let enrollment: typeof import('./enrollment');
  beforeAll(async () => {
    cp = await startControlPlane('enrol');
    enrollment = await import('./enrollment');
  });
  afterAll(async () => {
    await cp?.stop();
  });

  const outcome = (promise: Promise<unknown>) =>
    promise.then(
      () => 'enrolled',
      (error: { status?: number }) => error.status ?? 'error',
    );

  it('enrols as many hosts as the token allows, racing agents included, and no more', async () => {
    const team = await seedTeam(cp.db.db());
    const { userId } = await cp.user(team.id, 'admin');
    const { token, uses } = await enrollment.createEnrollmentToken(team.id, userId, { uses: 3 });
    expect(uses).toBe(3);
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        outcome(enrollment.enrollHost({ token, publicKey: publicKey(), protocolVersion: 1, facts }, null)),
      ),
    );
    expect(results.filter((r) => r === 'enrolled')).toHaveLength(3);
    expect(results.filter((r) => r === 403)).toHaveLength(3);
    const row = await cp.db.db().enrollmentToken.findFirstOrThrow({ where: { teamId: team.id } });
    expect(row).toMatchObject({ uses: 3, usesLeft: 0 });
    expect(row.usedAt).not.toBeNull();
    expect(JSON.stringify(row)).not.toContain(token);
    expect(await cp.db.db().host.count({ where: { teamId: team.id } })).toBe(3);
  });

  it('refuses an expired token and an unknown one', async () => {
    const team = await seedTeam(cp.db.db());
    const { userId } = await cp.user(team.id, 'admin');
    const { token } = await enrollment.createEnrollmentToken(team.id, userId, {
      uses: 5,
      expiresInMinutes: 5,
    });
    await cp.db.db().enrollmentToken.updateMany({
      where: { teamId: team.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    expect(
      await outcome(
        enrollment.enrollHost({ token, publicKey: publicKey(), protocolVersion: 1, facts }, null),
      ),
    ).toBe(403);
    expect(
      await outcome(
        enrollment.enrollHost(
          { token: 'x'.repeat(43), publicKey: publicKey(), protocolVersion: 1, facts },
          null,
        ),
      ),
    ).toBe(403);
  });
});
