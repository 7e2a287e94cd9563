/**
 * The real stack for browser tests: `npm start`'s own script on a free port with its own BERTH_HOME (embedded
 * PostgreSQL, migrations, the built control plane, a local agent). Stopped by pid; its home removed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@berth/engine/testing/index';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Stack extends AsyncDisposable {
  url: string;
  home: string;
  output: () => string;
}

/**
 * `localAgent: false` starts the stack without `npm start`'s local agent (BERTH_NO_AGENT=1); `env` adds to or
 * overrides the stack's environment; `port` is for a caller that must know it first; `publicHost` is the
 * address agents on other hosts (network namespaces) dial it at: BERTH_PUBLIC_URL is http://publicHost:port.
 */
export async function startStack(
  options: { localAgent?: boolean; env?: NodeJS.ProcessEnv; port?: number; publicHost?: string } = {},
): Promise<Stack> {
  const home = await mkdtemp(join(tmpdir(), 'bt-e2e-'));
  // PostgreSQL runs as its own user and must reach its data directory below this one.
  await chmod(home, 0o755);
  const port = options.port ?? (await freePort());
  let output = '';
  const child: ChildProcess = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, '.config/start.ts')], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      BERTH_HOME: join(home, 'berth'),
      DATABASE_URL: '',
      BERTH_PUBLIC_URL: '',
      ...(options.localAgent === false ? { BERTH_NO_AGENT: '1' } : {}),
      ...(options.publicHost ? { BERTH_PUBLIC_URL: `http://${options.publicHost}:${port}` } : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const url = `http://localhost:${port}`;
  const deadline = Date.now() + 180_000;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      await exited;
    }
    await rm(home, { recursive: true, force: true });
  };
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the stack exited early:\n${output}`);
      try {
        const response = await fetch(`${url}/sign-in`, { redirect: 'manual' });
        if (response.status < 500) break;
      } catch {}
      if (Date.now() > deadline) throw new Error(`the stack did not come up in time:\n${output}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (error) {
    // A stack that did not come up is stopped here: nobody else holds it.
    await stop();
    throw error;
  }
  return { url, home, output: () => output, [Symbol.asyncDispose]: stop };
}
