/**
 * Network plumbing for specs that run agents as separate "hosts" on this one kernel: a `bt-` network namespace
 * joined to this machine by a veth pair on a /30, TCP forwarders into such a namespace and on this machine's end
 * of it, and a sweep of what a failed run may leave below a directory (mounts, runc containers).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const forwarder = fileURLToPath(new URL('./tcp-forward.mjs', import.meta.url));

export interface Netns {
  name: string;
  /** The namespace's end of the veth, and this machine's. */
  address: string;
  hostAddress: string;
  close(): Promise<void>;
}

/** A namespace `bt-<tag>-<id>` with loopback up and a default route through this machine. */
export async function createNetns(tag: string): Promise<Netns> {
  const id = randomBytes(3).toString('hex');
  const name = `bt-${tag}-${id}`;
  const vethHost = `bt-${tag}h${id}`.slice(0, 15);
  const vethPeer = `bt-${tag}p${id}`.slice(0, 15);
  // 10.150–199.x.x: away from the sshd fixture's 10.200–249 and the engine's default pools.
  const base = `10.${randomInt(150, 200)}.${randomInt(0, 256)}`;
  const quad = randomInt(0, 64) * 4;
  const hostAddress = `${base}.${quad + 1}`;
  const address = `${base}.${quad + 2}`;
  const close = async () => {
    await run('ip', ['netns', 'del', name]).catch(() => undefined);
    await run('ip', ['link', 'del', vethHost]).catch(() => undefined);
  };
  try {
    await run('ip', ['netns', 'add', name]);
    await run('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethPeer]);
    await run('ip', ['link', 'set', vethPeer, 'netns', name]);
    await run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', vethHost]);
    await run('ip', ['link', 'set', vethHost, 'up']);
    await run('ip', ['-n', name, 'addr', 'add', `${address}/30`, 'dev', vethPeer]);
    await run('ip', ['-n', name, 'link', 'set', vethPeer, 'up']);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', name, 'route', 'add', 'default', 'via', hostAddress]);
  } catch (error) {
    await close();
    throw error;
  }
  return { name, address, hostAddress, close };
}

export interface Forward {
  close(): Promise<void>;
}

/** Inside `netns`: 127.0.0.1:`port` forwards to `target` (a process in the namespace, stopped by its pid). */
export async function forwardInNetns(
  netns: string,
  port: number,
  target: { host: string; port: number },
): Promise<Forward> {
  // nsenter, not `ip netns exec`, for the same reason as the sshd fixture: no remount of /sys.
  const child: ChildProcess = spawn(
    'nsenter',
    [
      `--net=/run/netns/${netns}`,
      process.execPath,
      forwarder,
      '127.0.0.1',
      String(port),
      target.host,
      String(target.port),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const close = async () => {
    if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid, 'SIGTERM');
    await exited;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`forwarder in ${netns} did not start: ${output}`)),
        10_000,
      );
      child.stderr?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      child.stdout?.on('data', (d: Buffer) => {
        output += d.toString();
        if (output.includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`forwarder in ${netns} exited (${code}): ${output}`));
      });
    });
  } catch (error) {
    await close();
    throw error;
  }
  return { close };
}

/** On this machine: `listen` forwards to `target` (from this process). */
export async function forwardHere(
  listen: { host: string; port: number },
  target: { host: string; port: number },
): Promise<Forward> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.once('close', () => open.delete(socket));
    }
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      }),
  };
}

/**
 * What a run that failed half-way may leave below `dir`: containers still held by runc under the given state
 * roots (force-deleted, which kills their processes), then any mount point below `dir`, deepest first.
 */
export async function sweepBelow(dir: string, runcRoots: string[]): Promise<void> {
  for (const root of runcRoots) {
    const listed = await run('runc', ['--root', root, 'list', '-q']).catch(() => ({ stdout: '' }));
    for (const id of listed.stdout.split('\n').filter(Boolean))
      await run('runc', ['--root', root, 'delete', '--force', id]).catch(() => undefined);
  }
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((path) => path.replace(/\\040/g, ' '))
    .filter((path) => path.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const path of mounts) await run('umount', ['-l', path]).catch(() => undefined);
}
