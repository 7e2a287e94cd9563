/**
 * The reference daemon for differential tests and benchmarks: Debian's dockerd 20.10 on its own socket, data
 * and exec roots under `/tmp/bt-api-ref-*`, without iptables or the default bridge (see NOTES: its iptables
 * setup breaks every other bridge on the host). Stopped by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawRequest } from './testing';

export interface ReferenceDockerd extends AsyncDisposable {
  socket: string;
  host: string;
  root: string;
  pid: number;
}

/**
 * `bridge` gives dockerd a default bridge network on an existing bridge interface the caller made (a test-
 * prefixed one), still without iptables, so the host's FORWARD policy stays as it is.
 */
export async function startReferenceDockerd(
  options: { bridge?: string; bridgeIp?: string } = {},
): Promise<ReferenceDockerd> {
  const root = await mkdtemp('/tmp/bt-api-ref-');
  const socket = join(root, 'docker.sock');
  const child: ChildProcess = spawn(
    'dockerd',
    [
      '--host',
      `unix://${socket}`,
      '--data-root',
      join(root, 'data'),
      '--exec-root',
      join(root, 'exec'),
      '--pidfile',
      join(root, 'docker.pid'),
      '--iptables=false',
      '--ip6tables=false',
      ...(options.bridge
        ? ['--bridge', options.bridge, ...(options.bridgeIp ? ['--fixed-cidr', options.bridgeIp] : [])]
        : ['--bridge=none']),
      '--containerd-namespace',
      'bt-api-ref',
      '--containerd-plugins-namespace',
      'bt-api-ref-plugins',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-8192);
  });
  child.stderr?.on('error', () => {});
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      process.kill(child.pid, 'SIGTERM');
      const killed = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
      if (!killed && child.exitCode === null) {
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
    }
    await rm(root, { recursive: true, force: true, maxRetries: 3 });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`dockerd exited early: ${log}`);
    }
    const ok = await rawRequest(socket, 'GET', '/_ping').then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd did not answer within 30 s: ${log}`);
    }
    await sleep(100);
  }
  return { socket, host: `unix://${socket}`, root, pid: child.pid ?? -1, [Symbol.asyncDispose]: stop };
}
