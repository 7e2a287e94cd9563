/**
 * Domain errors to tRPC errors, in one place. Matched by name, not class: the custom server and Next's bundle
 * each load their own copy of the domain modules.
 */
import { TRPCError } from '@trpc/server';

export function toTRPCError(error: unknown): TRPCError {
  if (error instanceof TRPCError) return error;
  const e = error as { name?: string; message?: string; code?: string };
  switch (e.name) {
    case 'HostNotFoundError':
    case 'ContainerNotFoundError':
    case 'BuildNotFoundError':
      return new TRPCError({ code: 'NOT_FOUND', message: e.message ?? 'not found' });
    case 'TeamRuleError':
      return new TRPCError({
        code:
          e.code === 'not_found'
            ? 'NOT_FOUND'
            : e.code === 'forbidden'
              ? 'FORBIDDEN'
              : e.code === 'gone'
                ? 'PRECONDITION_FAILED'
                : 'CONFLICT',
        message: e.message ?? 'refused',
      });
    case 'BuildRefusedError':
      return new TRPCError({ code: 'BAD_REQUEST', message: e.message ?? 'the build was refused' });
    case 'HostNameTakenError':
      return new TRPCError({ code: 'CONFLICT', message: e.message ?? 'the name is taken' });
    case 'AgentUnavailableError':
      return new TRPCError({ code: 'PRECONDITION_FAILED', message: e.message ?? 'the host is offline' });
    case 'AgentCommandError':
      return new TRPCError({
        code: e.code === 'not_found' ? 'NOT_FOUND' : e.code === 'conflict' ? 'CONFLICT' : 'BAD_REQUEST',
        message: e.message ?? 'the command failed',
      });
    default:
      return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Something went wrong.' });
  }
}
