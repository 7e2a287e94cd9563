import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const tsx = fileURLToPath(new URL('../../../../node_modules/.bin/tsx', import.meta.url));
const child = fileURLToPath(new URL('../testing/cgroup2-child.ts', import.meta.url));

// This machine's own layout is hybrid (v1 controllers plus an empty unified tree); the engine runs here in a
// private mount namespace whose /sys/fs/cgroup is a cgroup2 mount. Controllers bound to the host's v1
// hierarchies (memory, cpu, pids) cannot be enabled on it, so limits under v2 are not covered here.
describe('containers on a pure cgroup v2 host', () => {
  it('runs, logs, execs, pauses, stops and removes with runc and conmon in unified mode', async () => {
    const dataRoot = await mkdtemp(join(tmpdir(), 'bt-cgroup2-'));
    try {
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(
          'unshare',
          ['--mount', '--propagation', 'private', tsx, child, dataRoot],
          { timeout: 120_000 },
          (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
        );
      });
      const findings = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
      expect(findings).toMatchObject({
        hostFs: 'cgroup2fs',
        exitCode: 3,
        inOwnCgroup: true,
        execExit: 5,
        execOut: 'from-exec\n',
        paused: 'paused',
        stopExit: 137,
        cgroupRemoved: true,
      });
      // 0x63677270 is CGROUP2_SUPER_MAGIC: the container's own /sys/fs/cgroup is cgroup2 too.
      // conmon reads stdout and stderr from two pipes: their order against each other is not kept.
      expect(findings.logs.split('\n').filter(Boolean).sort()).toEqual([
        'stderr:err',
        'stdout:63677270',
        'stdout:out',
      ]);
    } finally {
      await rm(dataRoot, { recursive: true, force: true });
    }
  });
});
