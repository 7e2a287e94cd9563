/**
 * For integration tests of the control plane's domain: an embedded PostgreSQL with the migrations applied, the
 * server modules loaded against it, and signed-in callers of the real appRouter (a real better-auth session,
 * its cookie on the request's headers, so the same middleware as in production decides).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedDatabase, migrate, startEmbeddedPostgres } from '@berth/db';
import type { SeedRole } from '@berth/db/seed';
import { TRPCError } from '@trpc/server';

export interface ControlPlaneHarness {
  db: typeof import('../db');
  auth: typeof import('../auth');
  router: typeof import('../trpc/router');
  init: typeof import('../trpc/init');
  /** A new user with a password, a member of `teamId` with `role` (none: a member of no team). */
  user(teamId: string | null, role?: SeedRole): Promise<{ userId: string; caller: Caller; cookie: string }>;
  stop(): Promise<void>;
}

export type Caller = ReturnType<typeof import('../trpc/router')['appRouter']['createCaller']>;

/** What a call came to: 'OK', or the code of the tRPC error it was refused with (any other error is thrown). */
export async function trpcCode(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    if (error instanceof TRPCError) return error.code;
    throw error;
  }
}

export async function startControlPlane(prefix: string): Promise<ControlPlaneHarness> {
  const root = await mkdtemp(join(tmpdir(), `bt-web-${prefix}-`));
  let database: EmbeddedDatabase | undefined;
  try {
    database = await startEmbeddedPostgres({ root });
    await migrate(database.url);
  } catch (error) {
    await database?.stop();
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  // The env module is read once, on first use, so it is set before the server modules are loaded.
  process.env.DATABASE_URL = database.url;
  process.env.BETTER_AUTH_SECRET = randomBytes(32).toString('base64url');
  process.env.BERTH_PUBLIC_URL = 'http://localhost:3999';
  process.env.LOG_LEVEL ??= 'silent';
  const modules = {
    db: await import('../db'),
    auth: await import('../auth'),
    router: await import('../trpc/router'),
    init: await import('../trpc/init'),
  };
  const running = database;
  return {
    ...modules,
    async user(teamId, role = 'viewer') {
      const email = `bt-${randomUUID().slice(0, 12)}@example.test`;
      const password = 'bt-password-long-enough';
      const { user } = await modules.auth.auth().api.signUpEmail({ body: { name: email, email, password } });
      if (teamId) await modules.db.db().membership.create({ data: { teamId, userId: user.id, role } });
      const response = await modules.auth
        .auth()
        .api.signInEmail({ body: { email, password }, asResponse: true });
      const cookie = response.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const ctx = await modules.init.createContext({ headers: new Headers({ cookie }) });
      if (!ctx.session) throw new Error('the test user has no session');
      return { userId: user.id, caller: modules.router.appRouter.createCaller(ctx), cookie };
    },
    async stop() {
      await modules.db.db().$disconnect();
      await running.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
