/** tRPC procedures of "Add host over SSH"; admins only, every run audited by the service (never a secret). */
import { TRPCError } from '@trpc/server';
import { env } from '../../env';
import { createEnrollmentToken } from '../agents/enrollment';
import { router, teamProcedure } from '../trpc/init';
import { SshInstallError } from './errors';
import { installCommand } from './install-script';
import { sshAddressInput, sshInstallInput, sshRunInput, sshUninstallInput } from './schemas';
import { forgetHostKey, getRun, probe, startInstall, startUninstall } from './service';

export function toTRPC(error: unknown): TRPCError {
  // By name, not class: Next's bundle and the custom server each load their own copy of this module.
  const e = error as { name?: string; code?: string; message?: string };
  if (e.name !== 'SshInstallError' && !(error instanceof SshInstallError))
    return error instanceof TRPCError
      ? error
      : new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Something went wrong.' });
  const code =
    e.code === 'not_found'
      ? 'NOT_FOUND'
      : e.code === 'conflict' || e.code === 'host_key_changed'
        ? 'CONFLICT'
        : e.code === 'unreachable'
          ? 'PRECONDITION_FAILED'
          : 'BAD_REQUEST';
  return new TRPCError({ code, message: e.message ?? 'The SSH install failed.' });
}

async function mapped<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toTRPC(error);
  }
}

export const sshInstallRouter = router({
  /** Connects only to read the host key; nothing is sent before the admin confirms it. */
  probe: teamProcedure('admin')
    .input(sshAddressInput)
    .mutation(({ ctx, input }) => mapped(() => probe(ctx.teamId, input.host, input.port))),
  install: teamProcedure('admin')
    .input(sshInstallInput)
    .mutation(({ ctx, input }) =>
      mapped(async () => {
        const { id } = await startInstall(ctx.teamId, ctx.user.id, input);
        return { id };
      }),
    ),
  uninstall: teamProcedure('admin')
    .input(sshUninstallInput)
    .mutation(({ ctx, input }) =>
      mapped(async () => {
        const { id } = await startUninstall(ctx.teamId, ctx.user.id, input);
        return { id };
      }),
    ),
  run: teamProcedure('admin')
    .input(sshRunInput)
    .query(({ ctx, input }) => mapped(() => getRun(ctx.teamId, input.id))),
  forgetHostKey: teamProcedure('admin')
    .input(sshAddressInput)
    .mutation(({ ctx, input }) =>
      mapped(() => forgetHostKey(ctx.teamId, input.host, input.port, ctx.user.id)),
    ),
  /** A one-time enrolment token inside the `curl … | sh` command, for hosts the control plane cannot reach. */
  oneLineCommand: teamProcedure('admin').mutation(async ({ ctx }) => {
    const { token, expiresAt } = await createEnrollmentToken(ctx.teamId, ctx.user.id);
    return { command: installCommand(env().BERTH_PUBLIC_URL, token), expiresAt };
  }),
});
