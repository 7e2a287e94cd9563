import { describe, expect, it } from 'vitest';
import { overlayOptions, rootfsLayout } from './rootfs';
import { buildSpec, type SpecInput } from './spec';

const input: SpecInput = {
  rootfs: '/data/containers/c1/rootfs',
  readonlyRootfs: false,
  args: ['true'],
  env: [],
  cwd: '/',
  user: { uid: 0, gid: 0, additionalGids: [] },
  terminal: false,
  hostname: 'c1',
  capabilities: ['CAP_CHOWN'],
  privileged: false,
  network: { mode: 'private' },
  mounts: [{ destination: '/etc/hosts', type: 'bind', source: '/data/hosts', options: ['rbind'] }],
  cgroupsPath: '/berth/c1',
};

describe('buildSpec', () => {
  it('mounts the overlay first, on /, so every other mount lands on top of it', () => {
    const layout = rootfsLayout('/data/containers/c1');
    const spec = buildSpec(
      { ...input, rootfsOverlay: overlayOptions(layout, ['/data/snapshots/b', '/data/snapshots/a']) },
      { RLIMIT_NOFILE: 1024 },
    ) as { root: { path: string }; mounts: Array<{ destination: string; type: string; options: string[] }> };
    expect(spec.root.path).toBe('/data/containers/c1/rootfs');
    expect(spec.mounts[0]).toEqual({
      destination: '/',
      type: 'overlay',
      source: 'overlay',
      options: [
        'lowerdir=/data/containers/c1/init:/data/snapshots/b:/data/snapshots/a',
        'upperdir=/data/containers/c1/upper',
        'workdir=/data/containers/c1/work',
      ],
    });
    expect(spec.mounts.map((m) => m.destination).slice(1, 2)).toEqual(['/proc']);
    expect(spec.mounts.at(-1)?.destination).toBe('/etc/hosts');
  });

  it('leaves the rootfs to the caller without an overlay', () => {
    const spec = buildSpec(input, { RLIMIT_NOFILE: 1024 }) as { mounts: Array<{ destination: string }> };
    expect(spec.mounts[0]?.destination).toBe('/proc');
  });
});
