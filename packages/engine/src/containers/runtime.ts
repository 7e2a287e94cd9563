/**
 * runc driven through conmon, as podman does. conmon is the per-container monitor: it double-forks away from
 * us, holds the container's stdio, writes the log file and the exit code, so containers and their logs
 * outlive the agent. We talk to runc directly only for operations on an existing container (start, kill,
 * pause, state, exec).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import { EngineError } from '../errors';
import { attachOutputStreams, attachStdinWriter, connectAttachSocket } from './attach';
import type { limitResources } from './spec';
import { type RuncStats, runcStatsSchema } from './stats';

export interface RuntimeCreateOptions {
  id: string;
  name: string;
  bundle: string;
  logPath: string;
  logSizeMax?: number;
  persistDir: string;
  tty: boolean;
  stdin: boolean;
  /** Close the container's stdin when the first attached client's input ends (`docker run -i`). */
  stdinOnce?: boolean;
}

export interface RuntimeState {
  status: 'created' | 'running' | 'paused' | 'stopped' | 'creating';
  pid: number;
}

export interface ExecProcess {
  stdin: Writable | null;
  stdout: Readable;
  stderr: Readable;
  pid: number | undefined;
  exit: Promise<number>;
}

function findBinary(name: string, extraDirs: string[]): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(extraDirs)) {
    if (!dir) continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  throw new EngineError('unavailable', `${name} not found on PATH; install it (apt-get install ${name})`);
}

function run(file: string, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const detail = (stderr || stdout || error.message).trim();
          reject(
            new EngineError(
              'failed',
              `${args.find((a) => !a.startsWith('-')) ?? file}: ${runcMessage(detail)}`,
            ),
          );
        } else resolve(stdout);
      },
    );
  });
}

/** runc logs as logfmt (`level=error msg="..."`); keep the message only. */
export function runcMessage(output: string): string {
  const lines = output.split('\n').filter(Boolean);
  const messages = lines.map(
    (line) => /msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1]?.replace(/\\"/g, '"') ?? line,
  );
  return messages.join('; ') || output;
}

export class OciRuntime {
  readonly runc: string;
  readonly conmon: string;
  readonly runcRoot: string;
  readonly exitDir: string;
  readonly socketDir: string;

  constructor(runRoot: string) {
    this.runc = findBinary('runc', ['/usr/sbin', '/usr/bin']);
    this.conmon = findBinary('conmon', ['/usr/bin', '/usr/libexec/podman']);
    this.runcRoot = join(runRoot, 'runc');
    this.exitDir = join(runRoot, 'exits');
    this.socketDir = join(runRoot, 's');
  }

  async prepare(): Promise<void> {
    for (const dir of [this.runcRoot, this.exitDir, this.socketDir])
      await mkdir(dir, { recursive: true, mode: 0o700 });
  }

  #runcArgs(...args: string[]): string[] {
    return ['--root', this.runcRoot, ...args];
  }

  /** Creates the container under conmon; resolves with its init pid once `runc create` returned. */
  async create(options: RuntimeCreateOptions): Promise<number> {
    await mkdir(options.persistDir, { recursive: true });
    const args = [
      '--api-version',
      '1',
      '-c',
      options.id,
      '-u',
      options.id,
      '-r',
      this.runc,
      '-b',
      options.bundle,
      '-p',
      join(options.persistDir, 'pidfile'),
      '-n',
      options.name,
      '--exit-dir',
      this.exitDir,
      '-0',
      options.persistDir,
      '-l',
      `k8s-file:${options.logPath}`,
      '--conmon-pidfile',
      join(options.persistDir, 'conmon.pid'),
      '--runtime-arg',
      '--root',
      '--runtime-arg',
      this.runcRoot,
      '--socket-dir-path',
      this.socketDir,
      '--full-attach',
      '--log-level',
      'error',
      // conmon cleans the runtime state up itself as soon as the container exits, in parallel with our own
      // exit handling, so `remove` right after `wait` rarely has a runc call left to make.
      '--exit-command',
      this.runc,
      ...['--root', this.runcRoot, 'delete', '--force', options.id].flatMap((arg) => [
        '--exit-command-arg',
        arg,
      ]),
    ];
    if (options.logSizeMax) args.push('--log-size-max', String(options.logSizeMax));
    if (options.tty) args.push('-t');
    if (options.stdin) args.push('-i');
    // Like dockerd, the container's stdin is closed when an attached client's input ends only for StdinOnce
    // without a TTY (`docker run -i`); a TTY's stdin outlives detaches (`docker run -it`, ctrl-p ctrl-q).
    if (options.stdin && (!options.stdinOnce || options.tty)) args.push('--leave-stdin-open');
    const child = spawn(this.conmon, args, {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, _OCI_SYNCPIPE: '3' },
      // conmon drops an `oom` marker in its working directory as well; keep it in the bundle.
      cwd: options.bundle,
      detached: true,
    });
    return await readSyncPipe(child, options.id);
  }

  /**
   * Starts a created container. All `runc start` does is open the container's exec FIFO, where runc's init
   * waits to exec the process, read the byte init writes and remove the FIFO; doing that here saves a runc
   * process, a sixth of a start. A runtime without that FIFO gets `runc start` itself.
   */
  async start(id: string, initPid?: number): Promise<void> {
    const fifo = join(this.runcRoot, id, 'exec.fifo');
    let fd: number;
    try {
      // Non-blocking, so the open never waits; the kernel reports nothing on it before init opens its end.
      fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await run(this.runc, this.#runcArgs('start', id));
      return;
    }
    const received = await new Promise<number>((resolve, reject) => {
      const pipe = new Socket({ fd, readable: true, writable: false });
      let bytes = 0;
      let watchdog: NodeJS.Timeout | undefined;
      const finish = (error?: Error) => {
        clearInterval(watchdog);
        pipe.destroy();
        if (error) reject(error);
        else resolve(bytes);
      };
      pipe.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      pipe.once('end', () => finish());
      pipe.once('close', () => finish());
      pipe.once('error', finish);
      // As runc does: an init that died before opening its end would leave the read waiting forever.
      watchdog = setInterval(() => {
        if (initPid && !isAlive(initPid)) finish();
      }, 100);
    });
    // conmon's exit command may have removed the whole state already, when the process was quick.
    await unlink(fifo).catch(() => {});
    if (!received) throw new EngineError('failed', 'cannot start the container: its init process is gone');
  }

  /** One sample of the container's cgroup counters, as runc reads them for either cgroup version. */
  async stats(id: string): Promise<RuncStats> {
    const out = await run(this.runc, this.#runcArgs('events', '--stats', id));
    const parsed = runcStatsSchema.safeParse(JSON.parse(out));
    if (!parsed.success)
      throw new EngineError('failed', `runc events gave no stats: ${parsed.error.message}`);
    return parsed.data;
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    await run(this.runc, this.#runcArgs('kill', ...(all ? ['--all'] : []), id, signal));
  }

  /** Changes a running container's limits in place (`docker update`). */
  async update(id: string, resources: ReturnType<typeof limitResources>): Promise<void> {
    const flags: string[] = [];
    if (resources.memory)
      flags.push('--memory', String(resources.memory.limit), '--memory-swap', String(resources.memory.swap));
    if (resources.cpu?.quota !== undefined)
      flags.push(
        '--cpu-quota',
        String(resources.cpu.quota),
        '--cpu-period',
        String(resources.cpu.period ?? 100000),
      );
    if (resources.cpu?.shares !== undefined) flags.push('--cpu-share', String(resources.cpu.shares));
    if (resources.pids) flags.push('--pids-limit', String(resources.pids.limit));
    if (flags.length) await run(this.runc, this.#runcArgs('update', ...flags, id));
  }

  async pause(id: string): Promise<void> {
    await run(this.runc, this.#runcArgs('pause', id));
  }

  async resume(id: string): Promise<void> {
    await run(this.runc, this.#runcArgs('resume', id));
  }

  /** Whether runc still keeps state for the container (a created, running or not yet cleaned-up one). */
  hasState(id: string): boolean {
    return existsSync(join(this.runcRoot, id));
  }

  /**
   * The runtime's state of an exited container gone: conmon's exit command (`runc delete`) is usually at it
   * already, so this waits for conmon to finish rather than racing it with a second runc, and deletes only
   * what conmon did not.
   */
  async cleanUpExited(id: string, conmonPid: number | undefined): Promise<void> {
    const deadline = Date.now() + 2000;
    while (this.hasState(id) && conmonPid && isAlive(conmonPid) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 1));
    await this.delete(id);
  }

  /** The pid of the container's conmon, from the pidfile it wrote at create. */
  async conmonPid(persistDir: string): Promise<number | undefined> {
    const pid = Number.parseInt(await readFile(join(persistDir, 'conmon.pid'), 'utf8').catch(() => ''), 10);
    return pid > 0 ? pid : undefined;
  }

  async delete(id: string): Promise<void> {
    if (!this.hasState(id)) return;
    try {
      await run(this.runc, this.#runcArgs('delete', '--force', id));
    } catch (error) {
      if (!/does not exist|not exist/.test((error as Error).message)) throw error;
    }
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    try {
      const out = await run(this.runc, this.#runcArgs('state', id));
      const parsed = JSON.parse(out) as { status: RuntimeState['status']; pid: number };
      return { status: parsed.status, pid: parsed.pid };
    } catch {
      return undefined;
    }
  }

  /** `ps` output for the container's processes (`docker top`). */
  async ps(id: string, psArgs: string[]): Promise<string> {
    return run(this.runc, this.#runcArgs('ps', id, ...psArgs));
  }

  /** Runs a process in a running container; its stdio are pipes to us (exec sessions end with the agent). */
  exec(id: string, processFile: string, options: { stdin: boolean }): ExecProcess {
    const child = spawn(this.runc, this.#runcArgs('exec', '--process', processFile, id), {
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const exit = new Promise<number>((resolve) => {
      child.once('error', () => resolve(126));
      child.once('close', (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
    });
    return {
      stdin: child.stdin,
      stdout: child.stdout as Readable,
      stderr: child.stderr as Readable,
      pid: child.pid,
      exit,
    };
  }

  /**
   * Runs a process in a running container under a conmon of its own, the way podman's exec does. Needed for
   * a TTY: `runc exec --tty` hands the terminal's master over a console socket, which conmon holds, and the
   * process's stdio then flows through conmon's attach socket in `dir`.
   */
  async execAttached(options: {
    containerId: string;
    execId: string;
    dir: string;
    processFile: string;
    tty: boolean;
    stdin: boolean;
  }): Promise<ExecProcess> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const args = [
      '--api-version',
      '1',
      '-c',
      options.containerId,
      '-u',
      options.execId,
      '-r',
      this.runc,
      '-b',
      options.dir,
      '-p',
      join(options.dir, 'pidfile'),
      // conmon names its exit file after the container id: keep it out of the shared exit directory.
      '--exit-dir',
      options.dir,
      '-l',
      'none',
      '--full-attach',
      '--socket-dir-path',
      this.socketDir,
      '--runtime-arg',
      '--root',
      '--runtime-arg',
      this.runcRoot,
      '--log-level',
      'error',
      '--exec',
      '--exec-attach',
      '--exec-process-spec',
      options.processFile,
    ];
    if (options.tty) args.push('-t');
    if (options.stdin) args.push('-i');
    // As for containers: a TTY's input outlives a detach (ctrl-p ctrl-q) and the process keeps running.
    if (options.stdin && options.tty) args.push('--leave-stdin-open');
    const child = spawn(this.conmon, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' },
      cwd: options.dir,
      detached: true,
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const spawned = new Promise<never>((_, reject) =>
      child.once('error', (error) =>
        reject(new EngineError('unavailable', `conmon could not be started: ${error.message}`)),
      ),
    );
    const sync = syncMessages(child.stdio[3] as Readable);
    const startPipe = child.stdio[4] as Writable;
    const attachPipe = syncMessages((child.stdio as unknown as Readable[])[5] as Readable);
    const closePipes = () => {
      for (const fd of [3, 4, 5]) (child.stdio as unknown as Array<Readable | null>)[fd]?.destroy();
      child.unref();
    };
    try {
      // First write: conmon waits for it before forking (podman moves it into a cgroup meanwhile).
      startPipe.write('0');
      const attached = await Promise.race([attachPipe.next(), spawned]);
      if (attached.done) throw new EngineError('failed', `exec: conmon ended early: ${stderr.trim()}`);
      const socket = await connectAttachSocket(options.dir);
      const { stdout, stderr: errStream } = attachOutputStreams(socket);
      // Second write: the exec starts only now, so none of its output is missed.
      startPipe.write('0');
      const started = await sync.next();
      if (started.done || started.value.data < 0) {
        socket.destroy();
        const detail = started.done ? stderr.trim() : (started.value.message ?? 'failed');
        throw new EngineError('failed', `runc exec: ${runcMessage(detail)}`);
      }
      const exit = sync.next().then(
        (message) => {
          closePipes();
          return message.done ? 1 : message.value.data;
        },
        () => {
          closePipes();
          return 1;
        },
      );
      return {
        stdin: options.stdin ? attachStdinWriter(Promise.resolve(socket)) : null,
        stdout,
        stderr: errStream,
        pid: started.value.data,
        exit,
      };
    } catch (error) {
      closePipes();
      throw error;
    }
  }

  /** Exit code conmon recorded for the container, if it exited. */
  async exitCode(id: string, persistDir: string): Promise<{ code: number; oom: boolean } | undefined> {
    let text: string;
    try {
      text = await readFile(join(persistDir, 'exit'), 'utf8');
    } catch {
      try {
        text = await readFile(join(this.exitDir, id), 'utf8');
      } catch {
        return undefined;
      }
    }
    const code = Number.parseInt(text.trim(), 10);
    let oom = false;
    try {
      await readFile(join(persistDir, 'oom'));
      oom = true;
    } catch {}
    return { code: Number.isNaN(code) ? 255 : code, oom };
  }
}

const signalNumbers: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
};

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalNumber(signal: string): number {
  return signalNumbers[signal] ?? 0;
}

/** conmon's sync messages: one JSON object per line, `{"data": n}` or `{"data": n, "message": "..."}`. */
async function* syncMessages(pipe: Readable): AsyncGenerator<{ data: number; message?: string }> {
  let buffered = '';
  for await (const chunk of pipe) {
    buffered += (chunk as Buffer).toString();
    let end = buffered.indexOf('\n');
    while (end !== -1) {
      const line = buffered.slice(0, end).trim();
      buffered = buffered.slice(end + 1);
      if (line) {
        const parsed = syncMessageSchema.safeParse(JSON.parse(line));
        if (!parsed.success) throw new EngineError('internal', `unreadable conmon sync message: ${line}`);
        yield parsed.data;
      }
      end = buffered.indexOf('\n');
    }
  }
}

const syncMessageSchema = z.object({ data: z.number().int(), message: z.string().optional() });

function readSyncPipe(child: ChildProcess, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const pipe = child.stdio[3] as Readable | undefined;
    let data = '';
    let stderr = '';
    let settled = false;
    const finish = (error: Error | undefined, pid?: number) => {
      if (settled) return;
      settled = true;
      pipe?.destroy();
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.unref();
      if (error) reject(error);
      else resolve(pid ?? 0);
    };
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', (error) =>
      finish(new EngineError('unavailable', `conmon could not be started: ${error.message}`)),
    );
    pipe?.on('data', (chunk: Buffer) => {
      data += chunk.toString();
      // conmon writes one JSON object per message; the first carries the pid or a negative code + message.
      const end = data.indexOf('}');
      if (end === -1) return;
      try {
        const message = JSON.parse(data.slice(0, end + 1)) as { data: number; message?: string };
        if (message.data < 0)
          finish(
            new EngineError(
              'failed',
              `runc create ${id.slice(0, 12)}: ${runcMessage(message.message ?? 'failed')}`,
            ),
          );
        else finish(undefined, message.data);
      } catch (error) {
        finish(new EngineError('internal', `unreadable conmon sync message: ${(error as Error).message}`));
      }
    });
    pipe?.once('end', () => {
      if (!settled)
        finish(
          new EngineError(
            'failed',
            `conmon exited before the container was created: ${runcMessage(stderr.trim()) || 'no output'}`,
          ),
        );
    });
  });
}
