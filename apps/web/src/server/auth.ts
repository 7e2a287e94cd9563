/** better-auth with email and password on the Prisma schema; sign-ins (and refused ones) go to the audit log. */
import { betterAuth } from 'better-auth';
import { prismaAdapter } from 'better-auth/adapters/prisma';
import { createAuthMiddleware, getIP, isAPIError } from 'better-auth/api';
import { nextCookies } from 'better-auth/next-js';
import { z } from 'zod';
import { env } from '../env';
import { recordAudit, teamOfUser } from './audit';
import { db } from './db';

function createAuth() {
  const config = env();
  return betterAuth({
    secret: config.BETTER_AUTH_SECRET,
    baseURL: config.BERTH_PUBLIC_URL,
    database: prismaAdapter(db(), { provider: 'postgresql' }),
    emailAndPassword: { enabled: true, minPasswordLength: 10, autoSignIn: true },
    // Accounts are made by the owner's first visit and, later, by invitations; not by anyone who asks: the
    // sign-up endpoint is closed over HTTP (404) and only our server code calls it (`auth().api.signUpEmail`).
    // Left open, anyone could sign up before the owner's first visit and so lock the owner out for good.
    disabledPaths: ['/sign-up/email'],
    // The origin check runs everywhere, tests included (better-auth skips it by default under NODE_ENV=test).
    advanced: { useSecureCookies: config.BERTH_PUBLIC_URL.startsWith('https://'), disableOriginCheck: false },
    // Visitors reach the control plane by whatever name they use (localhost, 127.0.0.1, the machine's name or
    // address), not only BERTH_PUBLIC_URL: a request from a page of the host it is sent to is same-origin and
    // trusted. Pages of other sites (their Origin names another host) stay refused, as the check intends.
    trustedOrigins: (request) => {
      const host = request?.headers.get('host');
      return host ? [`http://${host}`, `https://${host}`] : [];
    },
    hooks: {
      // A refused sign-in is recorded with the address it was tried for (never the password), under the team of
      // that account when there is one, so its admins see attempts on it.
      after: createAuthMiddleware(async (ctx) => {
        if (ctx.path !== '/sign-in/email' || !isAPIError(ctx.context.returned)) return;
        const body = z.object({ email: z.string().max(320) }).safeParse(ctx.body);
        const email = body.success ? body.data.email.trim().toLowerCase() : null;
        const user = email ? await db().user.findUnique({ where: { email }, select: { id: true } }) : null;
        await recordAudit({
          action: 'auth.sign_in_failed',
          userId: user?.id ?? null,
          teamId: user ? await teamOfUser(user.id) : null,
          detail: { email, status: ctx.context.returned.statusCode },
          // The same address a session records.
          ip: ctx.request ? getIP(ctx.request, ctx.context.options) : null,
        });
      }),
    },
    databaseHooks: {
      session: {
        create: {
          after: async (session) => {
            await recordAudit({
              action: 'auth.sign_in',
              userId: session.userId,
              teamId: await teamOfUser(session.userId),
              ip: session.ipAddress ?? null,
            });
          },
        },
      },
    },
    plugins: [nextCookies()],
  });
}

type Auth = ReturnType<typeof createAuth>;
const holder = globalThis as unknown as { berthAuth?: Auth };

export function auth(): Auth {
  holder.berthAuth ??= createAuth();
  return holder.berthAuth;
}

export async function sessionFrom(headers: Headers) {
  return auth().api.getSession({ headers });
}
