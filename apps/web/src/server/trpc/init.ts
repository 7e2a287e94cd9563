/** tRPC: the session in the context, and procedures that check it (and the caller's team role). */
import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { sessionFrom } from '../auth';
import { roleIn } from '../teams/membership';
import { hasRole, type Role } from '../teams/roles';
import { teamIdInput } from '../teams/schemas';

export async function createContext(opts: { headers: Headers }) {
  const session = await sessionFrom(opts.headers);
  return { session, headers: opts.headers };
}
type Context = Awaited<ReturnType<typeof createContext>>;

const t = initTRPC.context<Context>().create({ transformer: superjson });

export const router = t.router;
export const publicProcedure = t.procedure;

export const protectedProcedure = t.procedure.use(({ ctx, next }) => {
  if (!ctx.session) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in first.' });
  return next({ ctx: { ...ctx, user: ctx.session.user } });
});

/** A procedure on one team's data: the input names the team; the caller must hold at least `required` there. */
export function teamProcedure(required: Role) {
  return protectedProcedure.input(teamIdInput).use(async ({ ctx, input, next }) => {
    const role = await roleIn(ctx.user.id, input.teamId);
    if (!role) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such team.' });
    if (!hasRole(role, required))
      throw new TRPCError({ code: 'FORBIDDEN', message: `This needs the ${required} role.` });
    return next({ ctx: { ...ctx, teamId: input.teamId, role } });
  });
}
