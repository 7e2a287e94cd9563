/**
 * Security options of a container (`--security-opt`) and the default seccomp filter. Like Docker, every
 * unprivileged container gets a filter; ours denies (EPERM) the calls Docker's documentation lists as blocked
 * by its default profile, each one allowed again when the container holds the capability that makes it
 * legitimate (`--cap-add SYS_TIME` lets `settimeofday` through). Calls that no capability justifies inside a
 * container (the kernel keyring, which is not namespaced; userfaultfd; obsolete module calls) stay denied.
 */
import { EngineError } from '../errors';

export interface SecurityOptions {
  seccomp: 'default' | 'unconfined';
  noNewPrivileges: boolean;
}

/** Parses Docker's `SecurityOpt` strings (`seccomp=unconfined`, `no-new-privileges[:true|false]`, …). */
export function parseSecurityOpt(options: readonly string[]): SecurityOptions {
  const parsed: SecurityOptions = { seccomp: 'default', noNewPrivileges: false };
  for (const option of options) {
    if (option === 'no-new-privileges') {
      parsed.noNewPrivileges = true;
      continue;
    }
    const match = /^([a-z-]+)[=:](.*)$/s.exec(option);
    const key = match?.[1];
    const value = match?.[2] ?? '';
    if (key === 'no-new-privileges' && (value === 'true' || value === 'false')) {
      parsed.noNewPrivileges = value === 'true';
    } else if (key === 'seccomp') {
      if (value === 'unconfined') parsed.seccomp = 'unconfined';
      else
        throw new EngineError(
          'invalid_argument',
          'custom seccomp profiles are not supported; use seccomp=unconfined or leave the default',
        );
    } else if (key === 'apparmor' || key === 'label') {
      // No AppArmor or SELinux here: accepted and without effect, as dockerd does on such hosts.
    } else {
      throw new EngineError('invalid_argument', `invalid --security-opt: ${JSON.stringify(option)}`);
    }
  }
  return parsed;
}

/** Denied unless the container holds the capability; `null`: denied whatever it holds. */
const deniedCalls: ReadonlyArray<{ capability: string | null; names: readonly string[] }> = [
  {
    capability: null,
    names: [
      'add_key',
      'keyctl',
      'request_key',
      'userfaultfd',
      'uselib',
      'ustat',
      'sysfs',
      '_sysctl',
      'create_module',
      'get_kernel_syms',
      'query_module',
      'nfsservctl',
    ],
  },
  {
    capability: 'CAP_SYS_ADMIN',
    names: [
      'bpf',
      'fanotify_init',
      'lookup_dcookie',
      'mount',
      'umount2',
      'name_to_handle_at',
      'perf_event_open',
      'pivot_root',
      'quotactl',
      'setns',
      'swapon',
      'swapoff',
      'unshare',
      'fsopen',
      'fsconfig',
      'fsmount',
      'fspick',
      'move_mount',
      'open_tree',
    ],
  },
  { capability: 'CAP_SYS_BOOT', names: ['reboot', 'kexec_load', 'kexec_file_load'] },
  { capability: 'CAP_SYS_MODULE', names: ['init_module', 'finit_module', 'delete_module'] },
  { capability: 'CAP_SYS_PACCT', names: ['acct'] },
  { capability: 'CAP_SYS_PTRACE', names: ['kcmp', 'pidfd_getfd', 'process_madvise'] },
  { capability: 'CAP_SYS_RAWIO', names: ['iopl', 'ioperm'] },
  { capability: 'CAP_SYS_TIME', names: ['settimeofday', 'clock_settime', 'clock_adjtime'] },
  { capability: 'CAP_SYS_NICE', names: ['get_mempolicy', 'set_mempolicy', 'mbind', 'move_pages'] },
  { capability: 'CAP_DAC_READ_SEARCH', names: ['open_by_handle_at'] },
  { capability: 'CAP_SYSLOG', names: ['syslog'] },
];

const architectures: Record<string, string[]> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

const EPERM = 1;

/** The OCI `linux.seccomp` section for a container holding `capabilities`. */
export function defaultSeccomp(
  capabilities: readonly string[],
  arch = process.arch,
): Record<string, unknown> {
  const held = new Set(capabilities);
  const names = deniedCalls
    .filter((group) => group.capability === null || !held.has(group.capability))
    .flatMap((group) => group.names);
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: architectures[arch] ?? [],
    syscalls: [{ names, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM }],
  };
}
