import { TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { SshInstallError } from './errors';
import { toTRPC } from './router';

describe('SSH install errors over tRPC', () => {
  it('keep their message and map their code', () => {
    const changed = toTRPC(new SshInstallError('host_key_changed', 'The host key of h:22 changed'));
    expect(changed).toMatchObject({ code: 'CONFLICT', message: 'The host key of h:22 changed' });
    expect(toTRPC(new SshInstallError('not_found', 'No such install run.')).code).toBe('NOT_FOUND');
    expect(toTRPC(new SshInstallError('unreachable', 'x')).code).toBe('PRECONDITION_FAILED');
    expect(toTRPC(new SshInstallError('invalid_argument', 'x')).code).toBe('BAD_REQUEST');
  });

  it('hide anything else behind a generic message', () => {
    const other = toTRPC(new Error('connect ECONNREFUSED with password=hunter2'));
    expect(other).toBeInstanceOf(TRPCError);
    expect(other).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', message: 'Something went wrong.' });
  });
});
