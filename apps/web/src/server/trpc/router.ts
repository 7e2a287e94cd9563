import { z } from 'zod';
import { enrollmentTokenInput } from '../agents/schemas';
import { auditListInput } from '../audit-log/schemas';
import { listAudit } from '../audit-log/service';
import { deployContainer, runBulkAction, runContainerAction } from '../containers/actions';
import {
  containerDetail,
  containerUsage,
  recreateStatus,
  startRecreate,
  stateHistory,
} from '../containers/detail';
import {
  containerDetailSchema,
  containerRefInput,
  containerUsageSchema,
  recreateInput,
  recreateOutput,
  recreateStatusInput,
  recreateStatusSchema,
  stateHistoryInput,
  stateHistorySchema,
} from '../containers/detail-schemas';
import { listFleetContainers } from '../containers/fleet';
import {
  bulkActionInput,
  bulkActionOutput,
  containerActionInput,
  deployInput,
  fleetListInput,
  fleetListOutput,
} from '../containers/schemas';
import {
  hostDetailSchema,
  hostIdInput,
  hostLabelsInput,
  hostListInput,
  hostListOutput,
  hostRenameInput,
} from '../hosts/schemas';
import {
  hostDetail,
  listHosts,
  renameHost,
  revokeHost,
  setHostLabels,
  startEnrollment,
} from '../hosts/service';
import { buildStatus, startBuild } from '../images/build';
import {
  buildStatusInput,
  buildStatusOutput,
  imageBuildInput,
  imageBuildOutput,
} from '../images/build-schemas';
import { pullImage } from '../images/pull';
import {
  imageListInput,
  imageListOutput,
  imagePullInput,
  imagePullOutput,
  imageRemoveInput,
} from '../images/schemas';
import { listFleetImages, removeImage } from '../images/service';
import { operationListInput, operationListSchema } from '../operations/schemas';
import { listOperations } from '../operations/service';
import { registryRemoveInput, registrySaveInput } from '../registries/schemas';
import { listRegistries, removeRegistry, saveRegistry } from '../registries/service';
import { sshInstallRouter } from '../ssh-install/router';
import { membershipsOf } from '../teams/membership';
import {
  invitationIdInput,
  invitationSchema,
  invitationSignUpInput,
  invitationToken,
  inviteInput,
  memberInput,
  memberSchema,
  setRoleInput,
  teamCreateInput,
} from '../teams/schemas';
import {
  acceptInvitation,
  createInvitation,
  createTeam,
  listInvitations,
  listMembers,
  peekInvitation,
  removeMember,
  setMemberRole,
  signUpWithInvitation,
  withdrawInvitation,
} from '../teams/service';
import { toTRPCError } from './errors';
import { protectedProcedure, publicProcedure, router, teamProcedure } from './init';

/** Runs a domain call, turning its coded errors into transport errors (see errors.ts). */
async function domain<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toTRPCError(error);
  }
}

export const appRouter = router({
  me: protectedProcedure.query(async ({ ctx }) => ({
    user: { id: ctx.user.id, name: ctx.user.name, email: ctx.user.email },
    teams: await membershipsOf(ctx.user.id),
  })),
  teams: router({
    create: protectedProcedure
      .input(teamCreateInput)
      .mutation(({ ctx, input }) => createTeam(input.name, ctx.user.id)),
    members: teamProcedure('viewer')
      .output(z.array(memberSchema))
      .query(({ ctx }) => listMembers(ctx.teamId)),
    invitations: teamProcedure('admin')
      .output(z.array(invitationSchema))
      .query(({ ctx }) => listInvitations(ctx.teamId)),
    invite: teamProcedure('admin')
      .input(inviteInput)
      .mutation(({ ctx, input }) =>
        domain(() => createInvitation(ctx.teamId, { userId: ctx.user.id, role: ctx.role }, input)),
      ),
    withdrawInvitation: teamProcedure('admin')
      .input(invitationIdInput)
      .mutation(({ ctx, input }) =>
        domain(() => withdrawInvitation(ctx.teamId, input.invitationId, ctx.user.id)),
      ),
    setRole: teamProcedure('admin')
      .input(setRoleInput)
      .mutation(({ ctx, input }) =>
        domain(() =>
          setMemberRole(ctx.teamId, { userId: ctx.user.id, role: ctx.role }, input.userId, input.role),
        ),
      ),
    removeMember: teamProcedure('admin')
      .input(memberInput)
      .mutation(({ ctx, input }) =>
        domain(() => removeMember(ctx.teamId, { userId: ctx.user.id, role: ctx.role }, input.userId)),
      ),
    leave: teamProcedure('viewer').mutation(({ ctx }) =>
      domain(() => removeMember(ctx.teamId, { userId: ctx.user.id, role: ctx.role }, ctx.user.id)),
    ),
  }),
  invitations: router({
    peek: publicProcedure
      .input(z.object({ token: invitationToken }))
      .query(async ({ input }) => (await peekInvitation(input.token)) ?? { state: 'unknown' as const }),
    accept: protectedProcedure
      .input(z.object({ token: invitationToken }))
      .mutation(({ ctx, input }) => domain(() => acceptInvitation(input.token, ctx.user.id))),
    signUp: publicProcedure
      .input(invitationSignUpInput)
      .mutation(({ ctx, input }) => domain(() => signUpWithInvitation(input, ctx.headers))),
  }),
  containers: router({
    list: teamProcedure('viewer')
      .input(fleetListInput)
      .output(fleetListOutput)
      .query(({ ctx, input }) => listFleetContainers({ ...input, teamId: ctx.teamId })),
    bulk: teamProcedure('operator')
      .input(bulkActionInput)
      .output(bulkActionOutput)
      .mutation(({ ctx, input }) => runBulkAction({ ...input, teamId: ctx.teamId }, ctx.user.id)),
    deploy: teamProcedure('operator')
      .input(deployInput)
      .mutation(async ({ ctx, input }) => {
        try {
          return await deployContainer({ ...input, teamId: ctx.teamId }, ctx.user.id);
        } catch (error) {
          throw toTRPCError(error);
        }
      }),
    action: teamProcedure('operator')
      .input(containerActionInput)
      .mutation(async ({ ctx, input }) => {
        try {
          await runContainerAction({ ...input, teamId: ctx.teamId }, ctx.user.id);
        } catch (error) {
          throw toTRPCError(error);
        }
      }),
    get: teamProcedure('viewer')
      .input(containerRefInput)
      .output(containerDetailSchema)
      .query(({ ctx, input }) => domain(() => containerDetail({ ...input, teamId: ctx.teamId }))),
    usage: teamProcedure('viewer')
      .input(containerRefInput)
      .output(containerUsageSchema)
      .query(({ ctx, input }) => domain(() => containerUsage({ ...input, teamId: ctx.teamId }))),
    history: teamProcedure('viewer')
      .input(stateHistoryInput)
      .output(stateHistorySchema)
      .query(({ ctx, input }) => domain(() => stateHistory({ ...input, teamId: ctx.teamId }))),
    recreate: teamProcedure('operator')
      .input(recreateInput)
      .output(recreateOutput)
      .mutation(({ ctx, input }) =>
        domain(() => startRecreate({ ...input, teamId: ctx.teamId }, ctx.user.id)),
      ),
    recreateStatus: teamProcedure('viewer')
      .input(recreateStatusInput)
      .output(recreateStatusSchema)
      .query(({ ctx, input }) => domain(() => recreateStatus({ ...input, teamId: ctx.teamId }))),
  }),
  images: router({
    list: teamProcedure('viewer')
      .input(imageListInput)
      .output(imageListOutput)
      .query(({ ctx, input }) => listFleetImages({ ...input, teamId: ctx.teamId })),
    pull: teamProcedure('operator')
      .input(imagePullInput)
      .output(imagePullOutput)
      .mutation(async ({ ctx, input }) => {
        try {
          return await pullImage({ ...input, teamId: ctx.teamId }, ctx.user.id);
        } catch (error) {
          throw toTRPCError(error);
        }
      }),
    build: teamProcedure('operator')
      .input(imageBuildInput)
      .output(imageBuildOutput)
      .mutation(async ({ ctx, input }) => {
        try {
          return await startBuild({ ...input, teamId: ctx.teamId }, ctx.user.id);
        } catch (error) {
          throw toTRPCError(error);
        }
      }),
    buildStatus: teamProcedure('viewer')
      .input(buildStatusInput)
      .output(buildStatusOutput)
      .query(async ({ ctx, input }) => {
        try {
          return await buildStatus({ ...input, teamId: ctx.teamId });
        } catch (error) {
          throw toTRPCError(error);
        }
      }),
    remove: teamProcedure('operator')
      .input(imageRemoveInput)
      .mutation(async ({ ctx, input }) => {
        try {
          await removeImage({ ...input, teamId: ctx.teamId }, ctx.user.id);
        } catch (error) {
          throw toTRPCError(error);
        }
      }),
  }),
  operations: router({
    list: teamProcedure('viewer')
      .input(operationListInput)
      .output(operationListSchema)
      .query(({ ctx, input }) => listOperations({ ...input, teamId: ctx.teamId })),
  }),
  audit: router({
    list: teamProcedure('admin')
      .input(auditListInput)
      .query(({ ctx, input }) => listAudit({ ...input, teamId: ctx.teamId })),
  }),
  registries: router({
    list: teamProcedure('viewer').query(({ ctx }) => listRegistries(ctx.teamId)),
    save: teamProcedure('admin')
      .input(registrySaveInput)
      .mutation(({ ctx, input }) => saveRegistry({ ...input, teamId: ctx.teamId }, ctx.user.id)),
    remove: teamProcedure('admin')
      .input(registryRemoveInput)
      .mutation(({ ctx, input }) => removeRegistry(ctx.teamId, input.id, ctx.user.id)),
  }),
  sshInstall: sshInstallRouter,
  hosts: router({
    list: teamProcedure('viewer')
      .input(hostListInput)
      .output(hostListOutput)
      .query(({ ctx, input }) => listHosts({ ...input, teamId: ctx.teamId })),
    get: teamProcedure('viewer')
      .input(hostIdInput)
      .output(hostDetailSchema)
      .query(async ({ ctx, input }) => {
        try {
          return await hostDetail(ctx.teamId, input.hostId);
        } catch (error) {
          throw toTRPCError(error);
        }
      }),
    rename: teamProcedure('admin')
      .input(hostRenameInput)
      .mutation(async ({ ctx, input }) => {
        try {
          await renameHost(ctx.teamId, input.hostId, input.name, ctx.user.id);
        } catch (error) {
          throw toTRPCError(error);
        }
      }),
    setLabels: teamProcedure('admin')
      .input(hostLabelsInput)
      .mutation(async ({ ctx, input }) => {
        try {
          await setHostLabels(ctx.teamId, input.hostId, input.labels, ctx.user.id);
        } catch (error) {
          throw toTRPCError(error);
        }
      }),
    revoke: teamProcedure('admin')
      .input(hostIdInput)
      .mutation(async ({ ctx, input }) => {
        try {
          await revokeHost(ctx.teamId, input.hostId, ctx.user.id);
        } catch (error) {
          throw toTRPCError(error);
        }
      }),
    startEnrollment: teamProcedure('admin')
      .input(enrollmentTokenInput)
      .mutation(({ ctx, input }) =>
        startEnrollment(ctx.teamId, ctx.user.id, {
          ...(input.uses ? { uses: input.uses } : {}),
          ...(input.expiresInMinutes ? { expiresInMinutes: input.expiresInMinutes } : {}),
        }),
      ),
  }),
});

export type AppRouter = typeof appRouter;
