import { describe, expect, it } from 'vitest';
import { defaultSeccomp, parseSecurityOpt } from './security';
import { capabilitiesInMask, defaultCapabilities } from './spec';

function denied(capabilities: string[]): string[] {
  const profile = defaultSeccomp(capabilities, 'x64') as { syscalls: Array<{ names: string[] }> };
  return profile.syscalls.flatMap((rule) => rule.names);
}

describe('security options and the default seccomp filter', () => {
  it("parses Docker's --security-opt forms and refuses the rest", () => {
    expect(parseSecurityOpt([])).toEqual({ seccomp: 'default', noNewPrivileges: false });
    expect(parseSecurityOpt(['seccomp=unconfined', 'no-new-privileges'])).toEqual({
      seccomp: 'unconfined',
      noNewPrivileges: true,
    });
    expect(
      parseSecurityOpt(['seccomp:unconfined', 'no-new-privileges:false', 'apparmor=unconfined']),
    ).toEqual({ seccomp: 'unconfined', noNewPrivileges: false });
    expect(() => parseSecurityOpt(['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'])).toThrow(/custom seccomp/);
    expect(() => parseSecurityOpt(['no-new-privileges:maybe'])).toThrow(/invalid --security-opt/);
    expect(() => parseSecurityOpt(['bogus'])).toThrow(/invalid --security-opt/);
  });

  it('denies the keyring and namespace calls by default and lets a capability bring its calls back', () => {
    const byDefault = denied(defaultCapabilities);
    for (const name of ['keyctl', 'add_key', 'unshare', 'setns', 'mount', 'bpf', 'settimeofday', 'reboot'])
      expect(byDefault).toContain(name);
    // Calls a default container needs stay allowed.
    for (const name of ['clone', 'execve', 'chown', 'kill', 'setuid', 'capset', 'ptrace'])
      expect(byDefault).not.toContain(name);
    const withTime = denied([...defaultCapabilities, 'CAP_SYS_TIME']);
    expect(withTime).not.toContain('settimeofday');
    expect(withTime).toContain('keyctl');
    const admin = denied([...defaultCapabilities, 'CAP_SYS_ADMIN']);
    expect(admin).not.toContain('unshare');
    expect(admin).toContain('add_key');
    expect(defaultSeccomp([], 'x64')).toMatchObject({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    });
  });

  it('reads capability names from a /proc status mask by bit number', () => {
    expect(capabilitiesInMask('00000000a80425fb')).toEqual([...defaultCapabilities].sort());
    const all = capabilitiesInMask('000001ffffffffff');
    expect(all).toHaveLength(41);
    expect(capabilitiesInMask('000001fffeffffff')).toEqual(all.filter((c) => c !== 'CAP_SYS_RESOURCE'));
  });
});
