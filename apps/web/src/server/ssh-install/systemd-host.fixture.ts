/**
 * For integration tests: a host whose PID 1 is systemd, on a machine whose PID 1 is not. systemd-nspawn boots
 * this machine's own systemd in a network namespace the caller made, over `/` with a volatile root (a tmpfs
 * holding this machine's /usr, and an /etc and /var of its own), so units are run by a real systemd while this
 * machine's files and services are left alone. What makes it a host rather than a sandbox:
 * - /etc/machine-id is given, so the boot is not a first boot: systemd enables no presets (this machine's
 *   dockerd, containerd and ssh units stay off) and asks nothing (systemd-firstboot);
 * - every capability, and the keyring and bpf system calls nspawn's own filter refuses (runc makes a session
 *   keyring and loads the cgroup v2 device filter; a host's systemd refuses neither);
 * - a pure cgroup v2 tree (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1): on a machine with v1 controllers nspawn would
 *   otherwise hand it those hierarchies read-only, where runc can make no cgroup;
 * - /etc/alternatives (iptables is a link through it) and copies of this machine's user database.
 * nspawn runs in a cgroup of its own made on the cgroup2 hierarchy: without systemd on this machine it puts the
 * booted system's cgroup beside itself, so two at once would otherwise meet in the root cgroup.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SystemdHost {
  /** The machine's name, also its hostname. */
  name: string;
  /** A command run as root inside the machine, in all its namespaces; never throws for an exit status. */
  exec(command: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The console: systemd's boot and shutdown messages. */
  console(): string;
  /** Halts the machine (killing what a halt leaves) and removes what the boot made; safe after a failed boot. */
  close(): Promise<void>;
}

export interface SystemdHostOptions {
  /** The network namespace to boot in (`ip netns` name). */
  netns: string;
  /** A directory of the caller's for the machine's own files (machine-id, user database copies). */
  dir: string;
  /** Unit files to install and start at boot: name → contents. */
  units?: Record<string, string>;
  /** Directories of this machine shown at the same path in the machine, writable. */
  binds?: string[];
  /** Directories or files shown at the same path in the machine, read-only. */
  readOnlyBinds?: string[];
}

/** A command's exit status and output; never throws for an exit status (a timeout or a spawn error is 1). */
export function runCommand(
  file: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The cgroup2 hierarchy: /sys/fs/cgroup on a unified machine, /sys/fs/cgroup/unified on a hybrid one. */
async function cgroup2Root(): Promise<string> {
  for (const path of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
    const { stdout } = await runCommand('stat', ['-f', '-c', '%T', path]);
    if (stdout.trim() === 'cgroup2fs') return path;
  }
  throw new Error('no cgroup2 hierarchy is mounted here; systemd-nspawn needs one');
}

/** Removes a cgroup and the ones below it, deepest first (each must be empty of processes by then). */
async function removeCgroup(path: string): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) if (entry.isDirectory()) await removeCgroup(join(path, entry.name));
  await rmdir(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

async function cgroupEmpty(path: string): Promise<boolean> {
  const stats = await readFile(join(path, 'cgroup.events'), 'utf8').catch(() => 'populated 0');
  return /^populated 0$/m.test(stats);
}

export async function bootSystemd(options: SystemdHostOptions): Promise<SystemdHost> {
  const name = `bt-sd-${randomBytes(3).toString('hex')}`;
  const cgroup = join(await cgroup2Root(), name);
  const propagate = `/run/systemd/nspawn/propagate/${name}`;
  let nspawn: ChildProcess | undefined;
  let consoleText = '';
  let leader: number | undefined;

  const exec: SystemdHost['exec'] = async (command) => {
    if (!leader) throw new Error(`${name} has not booted`);
    return runCommand('nsenter', ['-t', String(leader), '-a', '--', ...command]);
  };

  const close = async () => {
    if (nspawn?.pid && nspawn.exitCode === null && nspawn.signalCode === null) {
      const exited = new Promise((resolve) => nspawn?.once('exit', resolve));
      // A halt: systemd stops its units, then signals what is left and waits up to its own 90 s for processes
      // that ignore SIGTERM (a container's PID 1 does); past 20 s the whole cgroup is killed instead.
      nspawn.kill('SIGTERM');
      const halted = await Promise.race([
        exited.then(() => true),
        new Promise((resolve) => setTimeout(resolve, 20_000, false)),
      ]);
      if (!halted) {
        await writeFile(join(cgroup, 'cgroup.kill'), '1').catch(() => undefined);
        await exited;
      }
    }
    if (existsSync(cgroup)) {
      // What the machine left running (a container the test did not remove) is the machine's: kill it.
      if (!(await cgroupEmpty(cgroup)))
        await writeFile(join(cgroup, 'cgroup.kill'), '1').catch(() => undefined);
      for (let i = 0; i < 100 && !(await cgroupEmpty(cgroup)); i++)
        await new Promise((r) => setTimeout(r, 50));
      await removeCgroup(cgroup);
    }
    await rm(propagate, { recursive: true, force: true });
  };

  try {
    await mkdir(options.dir, { recursive: true });
    const machineId = join(options.dir, 'machine-id');
    await writeFile(machineId, `${randomBytes(16).toString('hex')}\n`);
    const args = [
      '--quiet',
      '--boot',
      '--directory=/',
      '--volatile=yes',
      `--machine=${name}`,
      // Not registered with a machined (none runs here) and no scope unit: nspawn stays in the cgroup it starts in.
      '--register=no',
      '--keep-unit',
      `--network-namespace-path=/run/netns/${options.netns}`,
      '--capability=all',
      '--system-call-filter=add_key keyctl request_key bpf',
      `--bind-ro=${machineId}:/etc/machine-id`,
      // It commits a transient machine-id to disk, which this one (read-only, and not transient) is not.
      '--bind-ro=/dev/null:/etc/systemd/system/systemd-machine-id-commit.service',
      '--bind-ro=/etc/alternatives',
    ];
    const users = join(options.dir, 'etc');
    await mkdir(users, { recursive: true });
    for (const file of ['passwd', 'group', 'shadow', 'gshadow']) {
      if (!existsSync(`/etc/${file}`)) continue;
      await copyFile(`/etc/${file}`, join(users, file));
      args.push(`--bind=${join(users, file)}:/etc/${file}`);
    }
    const units = join(options.dir, 'units');
    await mkdir(units, { recursive: true });
    const wanted: string[] = [];
    for (const [unit, text] of Object.entries(options.units ?? {})) {
      await writeFile(join(units, unit), text);
      args.push(`--bind-ro=${join(units, unit)}:/etc/systemd/system/${unit}`);
      wanted.push(unit);
    }
    for (const path of options.binds ?? []) args.push(`--bind=${path}`);
    for (const path of options.readOnlyBinds ?? []) args.push(`--bind-ro=${path}`);
    // Started at boot through systemd's own command line (a container's systemd reads it as the kernel's), so
    // the machine's multi-user.target.wants is left to what is enabled there.
    if (wanted.length) args.push(`systemd.wants=${wanted.join(',')}`);

    await mkdir(cgroup);
    // The shell moves itself into the new cgroup, then becomes nspawn: nothing of the boot runs outside it.
    nspawn = spawn(
      'sh',
      ['-c', 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', 'sh', cgroup, 'systemd-nspawn', ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
      },
    );
    nspawn.stdout?.on('data', (chunk: Buffer) => {
      consoleText += chunk.toString();
    });
    nspawn.stderr?.on('data', (chunk: Buffer) => {
      consoleText += chunk.toString();
    });
    const pid = nspawn.pid;
    if (!pid) throw new Error('systemd-nspawn did not start');
    for (let i = 0; i < 200 && !leader; i++) {
      if (nspawn.exitCode !== null)
        throw new Error(`systemd-nspawn exited ${nspawn.exitCode}:\n${consoleText}`);
      const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
      for (const child of children.split(' ').filter(Boolean)) {
        const comm = await readFile(`/proc/${child}/comm`, 'utf8').catch(() => '');
        if (comm.trim() === 'systemd') leader = Number(child);
      }
      if (!leader) await new Promise((r) => setTimeout(r, 50));
    }
    if (!leader) throw new Error(`systemd did not start in ${name}:\n${consoleText}`);
    // Until systemd listens, systemctl cannot reach it; then it waits for the boot to finish.
    let state = '';
    for (let i = 0; i < 200; i++) {
      const result = await exec(['systemctl', 'is-system-running', '--wait']);
      state = result.stdout.trim();
      if (state === 'running' || state === 'degraded') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (state !== 'running') {
      const failed = await exec(['systemctl', '--failed', '--no-pager']);
      throw new Error(`${name} booted ${state || 'nowhere'}:\n${failed.stdout}\n${consoleText}`);
    }
    return { name, exec, console: () => consoleText, close };
  } catch (error) {
    await close();
    throw error;
  }
}
