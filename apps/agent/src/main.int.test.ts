import { spawn } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rawRequest, runDocker } from './docker-api/testing';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

describe('standalone agent (npm run agent)', () => {
  it('serves the docker socket from BERTH_* env and flags, and exits 0 on SIGTERM removing the socket', async () => {
    const root = await mkdtemp('/tmp/bt-api-main-');
    const socket = join(root, 'docker.sock');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'apps/agent/src/main.ts'), '--docker-socket', socket],
      {
        cwd: repoRoot,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BERTH_DATA_ROOT: join(root, 'data') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let logs = '';
    child.stdout?.on('data', (c: Buffer) => {
      logs += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      logs += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      while (
        !(await rawRequest(socket, 'GET', '/_ping').then(
          (r) => r.status === 200,
          () => false,
        ))
      ) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`agent did not start: ${logs}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const info = await runDocker(`unix://${socket}`, join(root, 'cfg'), [
        'info',
        '--format',
        '{{.DockerRootDir}}',
      ]);
      expect(info.stdout.trim()).toBe(join(root, 'data'));

      // Pino JSON lines, one object per line.
      const first = logs.split('\n').find((l) => l.includes('agent started'));
      expect(first && JSON.parse(first)).toMatchObject({ msg: 'agent started' });

      if (child.pid) process.kill(child.pid, 'SIGTERM');
      expect(await exited).toBe(0);
      await expect(access(socket)).rejects.toThrow();
    } finally {
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
      await rm(root, { recursive: true, force: true });
    }
  });
});
