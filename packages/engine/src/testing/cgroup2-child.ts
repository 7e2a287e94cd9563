/**
 * Runs containers with /sys/fs/cgroup as a pure cgroup v2 tree: started by cgroup2.int.test.ts inside a
 * private mount namespace (`unshare --mount`), it mounts cgroup2 there, so runc and conmon see a unified-only
 * host while the rest of the machine keeps its own layout. Prints one JSON line of findings.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Engine } from '../engine';
import { loadBusybox } from './images';
import { testNetworkOptions } from './network';

const dataRoot = process.argv[2];
if (!dataRoot) throw new Error('usage: cgroup2-child <data root>');
execFileSync('mount', ['-t', 'cgroup2', 'bt-cgroup2', '/sys/fs/cgroup']);
const findings: Record<string, unknown> = {
  hostFs: execFileSync('stat', ['-f', '-c', '%T', '/sys/fs/cgroup']).toString().trim(),
};
const engine = await Engine.open({ dataRoot, ...testNetworkOptions() });
try {
  await loadBusybox(engine);
  const once = await engine.containers.create({
    Image: 'busybox',
    Cmd: ['sh', '-c', 'echo out; echo err >&2; stat -f -c %t /sys/fs/cgroup; exit 3'],
    HostConfig: { NetworkMode: 'none' },
  });
  await engine.containers.start(once.Id);
  findings.exitCode = (await engine.containers.wait(once.Id)).StatusCode;
  let logs = '';
  for await (const entry of engine.containers.logs(once.Id, { stdout: true, stderr: true, follow: false }))
    logs += `${entry.stream}:${entry.data.toString()}`;
  findings.logs = logs;
  await engine.containers.remove(once.Id);

  const long = await engine.containers.create({
    Image: 'busybox',
    Cmd: ['sleep', '100'],
    HostConfig: { NetworkMode: 'none' },
  });
  await engine.containers.start(long.Id);
  const { Pid } = (await engine.containers.inspect(long.Id)).State;
  const cgroupDir = join('/sys/fs/cgroup/berth', long.Id);
  findings.inOwnCgroup = (await readFile(join(cgroupDir, 'cgroup.procs'), 'utf8'))
    .split('\n')
    .includes(String(Pid));
  const exec = engine.containers.execCreate(long.Id, { Cmd: ['sh', '-c', 'echo from-exec; exit 5'] });
  const session = await engine.containers.execStart(exec.Id);
  let execOut = '';
  session.stdout.on('data', (chunk: Buffer) => {
    execOut += chunk.toString();
  });
  findings.execExit = await session.exit;
  findings.execOut = execOut;
  await engine.containers.pause(long.Id);
  findings.paused = (await engine.containers.inspect(long.Id)).State.Status;
  await engine.containers.unpause(long.Id);
  const stopped = Date.now();
  await engine.containers.stop(long.Id, { timeout: 1 });
  findings.stopMs = Date.now() - stopped;
  findings.stopExit = (await engine.containers.inspect(long.Id)).State.ExitCode;
  await engine.containers.remove(long.Id);
  findings.cgroupRemoved = !existsSync(cgroupDir);
} finally {
  await engine[Symbol.asyncDispose]();
  // runc leaves the parent, and the kernel keeps cgroup directories after the mount goes; still in use when
  // containers of another engine on this host run.
  await rmdir('/sys/fs/cgroup/berth').catch(() => {});
}
console.info(JSON.stringify(findings));
