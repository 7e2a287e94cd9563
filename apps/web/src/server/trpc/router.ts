import { listHosts, startEnrollment } from '../hosts/service';
import { membershipsOf } from '../teams/membership';
import { protectedProcedure, router, teamProcedure } from './init';

export const appRouter = router({
  me: protectedProcedure.query(async ({ ctx }) => ({
    user: { id: ctx.user.id, name: ctx.user.name, email: ctx.user.email },
    teams: await membershipsOf(ctx.user.id),
  })),
  hosts: router({
    list: teamProcedure('viewer').query(({ ctx }) => listHosts(ctx.teamId)),
    startEnrollment: teamProcedure('admin').mutation(({ ctx }) => startEnrollment(ctx.teamId, ctx.user.id)),
  }),
});

export type AppRouter = typeof appRouter;
