/**
 * The first visit's domain against a real PostgreSQL: the owner account with its team and membership, the
 * audit entries for sign-up and sign-in, and no sign-up over HTTP for anyone else (before or after the owner).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedDatabase, migrate, startEmbeddedPostgres } from '@berth/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const publicUrl = 'http://localhost:3999';
let root: string;
let database: EmbeddedDatabase;
let server: {
  owner: typeof import('./owner');
  auth: typeof import('../auth');
  db: typeof import('../db');
};

function signUpOverHttp(email: string): Promise<Response> {
  return server.auth.auth().handler(
    new Request(`${publicUrl}/api/auth/sign-up/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: publicUrl },
      body: JSON.stringify({ name: 'Mallory', email, password: 'mallory-password-1' }),
    }),
  );
}

describe('the owner account', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-web-owner-'));
    database = await startEmbeddedPostgres({ root });
    await migrate(database.url);
    // The env module is read once, on first use, so it is set before the server modules are loaded.
    process.env.DATABASE_URL = database.url;
    process.env.BETTER_AUTH_SECRET = randomBytes(32).toString('base64url');
    process.env.BERTH_PUBLIC_URL = publicUrl;
    server = { owner: await import('./owner'), auth: await import('../auth'), db: await import('../db') };
  });

  afterAll(async () => {
    await server?.db.db().$disconnect();
    await database?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('is asked for while no user exists, and nobody can sign up over HTTP instead', async () => {
    expect(await server.owner.needsOwner()).toBe(true);
    const response = await signUpOverHttp('mallory@example.test');
    expect(response.status).toBe(404);
    expect(await server.db.db().user.count()).toBe(0);
    expect(await server.owner.needsOwner()).toBe(true);
  });

  it('creates the user, a team and the owner membership once, with sign-up and sign-in in the audit log', async () => {
    const input = {
      name: 'Ada Lovelace',
      email: 'ada@example.test',
      password: 'correct horse battery',
      teamName: 'Ops',
    };
    const prisma = server.db.db();
    // A team the database refuses (PostgreSQL takes no NUL in text) fails the whole first visit: no account
    // is left behind without its team, so the owner can try again.
    await expect(
      server.owner.createOwner({ ...input, teamName: 'Ops\u0000' }, new Headers()),
    ).rejects.toThrow();
    expect(await prisma.user.count()).toBe(0);
    expect(await server.owner.needsOwner()).toBe(true);

    const { userId, teamId } = await server.owner.createOwner(input, new Headers());
    const membership = await prisma.membership.findUnique({
      where: { teamId_userId: { teamId, userId } },
      include: { team: true },
    });
    expect(membership?.role).toBe('owner');
    expect(membership?.team.name).toBe('Ops');
    expect(await server.owner.needsOwner()).toBe(false);

    // A second first visit (another tab, another instance) is refused, and makes nothing.
    await expect(
      server.owner.createOwner({ ...input, email: 'eve@example.test' }, new Headers()),
    ).rejects.toBeInstanceOf(server.owner.OwnerExistsError);
    expect(await prisma.user.count()).toBe(1);
    expect(await prisma.team.count()).toBe(1);

    await server.auth.auth().api.signInEmail({
      body: { email: input.email, password: input.password },
      headers: new Headers(),
    });
    await expect(
      server.auth.auth().api.signInEmail({
        body: { email: input.email, password: 'wrong password!!' },
        headers: new Headers(),
      }),
    ).rejects.toThrow();

    const entries = await prisma.auditLog.findMany({ where: { userId }, orderBy: { createdAt: 'asc' } });
    const actions = entries.map((e) => e.action);
    expect(actions.filter((a) => a === 'auth.sign_up')).toHaveLength(1);
    // Sign-up signs the owner in (one session), then the explicit sign-in: two sessions, two entries.
    expect(actions.filter((a) => a === 'auth.sign_in')).toHaveLength(2);
    expect(entries.find((e) => e.action === 'auth.sign_up')?.teamId).toBe(teamId);
    expect(entries.at(-1)?.teamId).toBe(teamId);
    // Nothing secret is written: no password or hash in any entry.
    expect(JSON.stringify(entries)).not.toContain(input.password);
    expect(JSON.stringify(entries)).not.toMatch(/\$argon|scrypt|hash/i);
  });

  it('signs in over HTTP from a page of the host by any name, never from another site', async () => {
    const signIn = (host: string, origin: string) =>
      server.auth.auth().handler(
        new Request(`http://${host}/api/auth/sign-in/email`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', host, origin },
          body: JSON.stringify({ email: 'ada@example.test', password: 'correct horse battery' }),
        }),
      );
    expect((await signIn('localhost:3999', publicUrl)).status).toBe(200);
    // The same machine by address (or by its name on the network) is not BERTH_PUBLIC_URL, and still works.
    expect((await signIn('127.0.0.1:3999', 'http://127.0.0.1:3999')).status).toBe(200);
    expect((await signIn('berth.lan:3999', 'http://berth.lan:3999')).status).toBe(200);
    // A page of another site posting to the control plane is refused.
    expect((await signIn('127.0.0.1:3999', 'http://evil.example')).status).toBe(403);
    expect((await signIn('localhost:3999', 'http://127.0.0.1:3999')).status).toBe(403);

    // A wrong password over HTTP is refused and recorded, under the account's team, without the password.
    const refused = await server.auth.auth().handler(
      new Request(`${publicUrl}/api/auth/sign-in/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: publicUrl, 'x-forwarded-for': '192.0.2.7' },
        body: JSON.stringify({ email: 'Ada@Example.test', password: 'not the password 1' }),
      }),
    );
    expect(refused.status).toBe(401);
    const prisma = server.db.db();
    const failed = await prisma.auditLog.findMany({
      where: { action: 'auth.sign_in_failed', ip: '192.0.2.7' },
    });
    expect(failed).toHaveLength(1);
    const user = await prisma.user.findUniqueOrThrow({ where: { email: 'ada@example.test' } });
    expect(failed[0]?.userId).toBe(user.id);
    expect(failed[0]?.teamId).not.toBeNull();
    expect(failed[0]?.detail).toEqual({ email: 'ada@example.test', status: 401 });
    expect(JSON.stringify(failed)).not.toContain('not the password');
  });

  it('still refuses sign-up over HTTP once the owner exists', async () => {
    const response = await signUpOverHttp('mallory@example.test');
    expect(response.status).toBe(404);
    expect(await server.db.db().user.findUnique({ where: { email: 'mallory@example.test' } })).toBeNull();
  });
});
