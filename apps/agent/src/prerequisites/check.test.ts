import { describe, expect, it } from 'vitest';
import {
  type CheckEnvironment,
  cgroupVersion,
  checkPrerequisites,
  formatReport,
  hasOverlay,
  nodeVersionOk,
  parseVersion,
} from './check';

describe('prerequisite parsers', () => {
  it('finds overlay in /proc/filesystems, not a nodev prefix or a substring', () => {
    expect(hasOverlay('nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n')).toBe(true);
    expect(hasOverlay('nodev\tsysfs\n\text4\nnodev\toverlayish\n')).toBe(false);
    expect(hasOverlay('')).toBe(false);
  });

  it('tells cgroup v2, v1 and none apart from /proc/self/mounts', () => {
    expect(cgroupVersion('cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n')).toBe('v2');
    expect(
      cgroupVersion('tmpfs /sys/fs/cgroup tmpfs ro 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n'),
    ).toBe('v1');
    expect(cgroupVersion('proc /proc proc rw 0 0\nsysfs /sys sysfs rw 0 0\n')).toBeNull();
  });

  it('reads versions as the tools print them', () => {
    expect(parseVersion('runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev')).toBe(
      '1.1.5+ds1',
    );
    expect(parseVersion('conmon version 2.1.6\ncommit: unknown')).toBe('2.1.6');
    expect(parseVersion('iptables v1.8.9 (nf_tables)')).toBe('1.8.9');
    expect(parseVersion('ip utility, iproute2-6.1.0, libbpf 1.1.0')).toBe('6.1.0');
    expect(parseVersion('aardvark-dns 1.4.0')).toBe('1.4.0');
    expect(parseVersion('command not found')).toBeNull();
  });

  it('holds Node to the bundle floor', () => {
    expect(nodeVersionOk('v20.19.0')).toBe(true);
    expect(nodeVersionOk('v20.18.3')).toBe(false);
    expect(nodeVersionOk('v18.19.0')).toBe(false);
    expect(nodeVersionOk('v21.7.0')).toBe(false);
    expect(nodeVersionOk('v22.12.0')).toBe(true);
    expect(nodeVersionOk('v24.1.0')).toBe(true);
  });
});

describe('checkPrerequisites', () => {
  // A host described as data: Debian without conmon and with a broken netavark, not root.
  const bare: CheckEnvironment = {
    platform: 'linux',
    uid: 1000,
    nodeVersion: 'v20.19.1',
    path: '/usr/bin:/bin',
    readText: async (path) =>
      path === '/proc/filesystems' ? 'nodev\toverlay\n' : 'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n',
    executable: async (path) => !path.endsWith('/conmon'),
    run: async (file) => (file.endsWith('netavark') ? 'Segmentation fault' : `${file} version 1.2.3`),
  };

  it('says what is missing and which package fixes it', async () => {
    const report = await checkPrerequisites(bare);
    expect(report.ok).toBe(false);
    const byName = Object.fromEntries(report.items.map((item) => [item.name, item]));
    expect(byName.root?.ok).toBe(false);
    expect(byName.conmon).toMatchObject({
      ok: false,
      detail: 'conmon is missing',
      fix: 'apt-get install conmon',
    });
    expect(byName.netavark).toMatchObject({ ok: false, package: 'netavark' });
    expect(byName.runc).toMatchObject({ ok: true, detail: 'runc 1.2.3 (/usr/sbin/runc)' });
    expect(report.missingPackages).toEqual(['conmon', 'netavark']);
    expect(formatReport(report)).toContain('MISSING conmon: conmon is missing — apt-get install conmon');
    expect(formatReport(report)).toContain('apt-get install -y conmon netavark');
  });
});
