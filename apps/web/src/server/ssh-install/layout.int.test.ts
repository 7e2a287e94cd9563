import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentUnit, defaultLayout } from './layout';

const run = promisify(execFile);

/** systemd's own parser, offline (this machine has no running systemd): it warns on any line it ignores. */
async function verify(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  const { stdout, stderr } = await run('systemd-analyze', ['verify', path]);
  return `${stdout}${stderr}`;
}

describe('the agent unit under systemd-analyze', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bt-unit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parses without a warning', async () => {
    expect(await verify(dir, 'berth-agent.service', agentUnit(defaultLayout))).toBe('');
  });

  it('is a check that can fail: a damaged unit is reported', async () => {
    const damaged = agentUnit(defaultLayout).replace('KillMode=process', 'KillMode=procss');
    expect(await verify(dir, 'damaged.service', damaged)).toContain('Failed to parse kill mode');
  });
});
