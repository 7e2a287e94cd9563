import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkPrerequisites, prerequisiteReportSchema } from './check';

const run = promisify(execFile);

describe('prerequisites on this machine', () => {
  it('finds everything the engine needs here, with the versions the tools print', async () => {
    const report = await checkPrerequisites();
    expect(report.items.filter((item) => !item.ok)).toEqual([]);
    const runc = report.items.find((item) => item.name === 'runc');
    const { stdout } = await run('runc', ['--version']);
    expect(stdout).toContain(runc?.detail.split(' ')[1]);
  });

  it('`berth-agent check --json` prints the same report', async () => {
    const { stdout } = await run('npx', ['tsx', 'apps/agent/src/main.ts', 'check', '--json']);
    const report = prerequisiteReportSchema.parse(JSON.parse(stdout));
    expect(report.ok).toBe(true);
    expect(report.items.map((item) => item.name)).toEqual(
      expect.arrayContaining(['linux', 'root', 'overlayfs', 'cgroups', 'conmon', 'netavark', 'aardvark-dns']),
    );
  });
});
