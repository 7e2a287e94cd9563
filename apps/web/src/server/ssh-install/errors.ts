/** Coded errors of the SSH installer; the router maps them by name (see router.ts), never their secrets. */
export type SshInstallErrorCode =
  | 'invalid_argument'
  | 'unreachable'
  | 'host_key_unconfirmed'
  | 'host_key_changed'
  | 'auth_failed'
  | 'sudo_failed'
  | 'command_failed'
  | 'not_found'
  | 'conflict';

export class SshInstallError extends Error {
  override readonly name = 'SshInstallError';
  constructor(
    readonly code: SshInstallErrorCode,
    message: string,
  ) {
    super(message);
  }
}
