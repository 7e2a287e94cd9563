/**
 * For integration tests: a real OpenSSH server in a network namespace of its own (a `bt-` netns joined to the
 * host by a veth pair on a /30 from 10.200–249.x.x), with host keys made by ssh-keygen in a temp dir, and a
 * throwaway `bt-ssh-…` user who may sudo with a password. The netns shares the filesystem, users and
 * processes with this machine, so what sshd runs, runs here. Everything is removed by `close()`, which is
 * safe to call after a partial start.
 *
 * With `systemd`, the netns is a host whose PID 1 is systemd: systemd-nspawn boots this machine's own systemd
 * there (see bootSystemd), and sshd is a unit of it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { bootSystemd, runCommand, type SystemdHost } from './systemd-host.fixture';

const run = promisify(execFile);

export interface SshdFixture {
  /** The sshd's address inside the netns, and this machine's end of the veth. */
  address: string;
  hostAddress: string;
  port: number;
  netns: string;
  /** `SHA256:…` of the current host key, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  rootKey: string;
  user: { name: string; password: string; sudoPassword: string };
  log: () => string;
  /** Restarts sshd with a freshly made host key (a "reinstalled" host); returns the new fingerprint. */
  rotateHostKey: () => Promise<string>;
  /** A command run on the host as root, in all its namespaces (with `systemd`: inside the booted machine). */
  exec: (command: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;
  close: () => Promise<void>;
}

async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${host}:${port}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The directories holding a Debian package's files (as `dpkg -L` lists them), each once. */
async function packageDirs(name: string): Promise<string[]> {
  const listed = (await run('dpkg', ['-L', name])).stdout.split('\n').filter(Boolean);
  const dirs = new Set<string>();
  for (const path of listed) {
    const info = await stat(path).catch(() => null);
    if (info && !info.isDirectory()) dirs.add(dirname(path));
  }
  return [...dirs];
}

/**
 * A flat apt repository in a new directory of its own holding a .deb of each package as installed here (its
 * files and its control data), and a sources directory that names only it. Readable by everyone: apt fetches
 * as its unprivileged `_apt` user.
 */
async function localRepository(packages: string[]): Promise<{ dir: string; sources: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'bt-apt-'));
  await chmod(dir, 0o755);
  const pool = join(dir, 'pool');
  const sources = join(dir, 'sources.list.d');
  await mkdir(pool, { recursive: true });
  await mkdir(sources, { recursive: true });
  const index: string[] = [];
  for (const name of packages) {
    const staging = join(dir, `staging-${name}`);
    await mkdir(join(staging, 'DEBIAN'), { recursive: true });
    for (const path of (await run('dpkg', ['-L', name])).stdout.split('\n').filter(Boolean)) {
      const info = await stat(path).catch(() => null);
      if (!info || info.isDirectory()) continue;
      await mkdir(dirname(join(staging, path)), { recursive: true, mode: 0o755 });
      await run('cp', ['-a', path, join(staging, path)]);
    }
    const control = controlOf((await run('dpkg-query', ['-s', name])).stdout);
    await writeFile(join(staging, 'DEBIAN', 'control'), control);
    const deb = join(pool, `${name}.deb`);
    await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '-b', staging, deb]);
    await rm(staging, { recursive: true, force: true });
    const bytes = await readFile(deb);
    index.push(
      `${control}Filename: ./pool/${name}.deb\nSize: ${bytes.length}\nSHA256: ${createHash('sha256').update(bytes).digest('hex')}\n`,
    );
  }
  await writeFile(join(dir, 'Packages'), index.join('\n'));
  await writeFile(join(sources, 'bt-local.list'), `deb [trusted=yes] file:${dir} ./\n`);
  return { dir, sources };
}

/** dpkg's status stanza as a package's control file: without what only an installed package has. */
function controlOf(status: string): string {
  const kept: string[] = [];
  let dropping = false;
  for (const line of status.split('\n')) {
    if (!line) continue;
    if (!line.startsWith(' ')) dropping = /^(Status|Conffiles|Config-Version):/.test(line);
    if (!dropping) kept.push(line);
  }
  return `${kept.join('\n')}\n`;
}

/**
 * In the private mount namespace, before sshd starts: files covered by /dev/null, directories replaced by
 * private writable copies or by empty tmpfs, directories bound over others (pairs), directories made there,
 * then packages purged there. One fixed script; the lists come as arguments, each after its count.
 */
const namespaceScript = `set -e
n=$1; shift; for _ in $(seq "$n"); do mount --bind /dev/null "$1"; shift; done
n=$1; shift; for _ in $(seq "$n"); do
  t=$(mktemp -d); mount -t tmpfs bt-private "$t"; cp -a "$1"/. "$t"/; mount --bind "$t" "$1"; umount "$t"; rmdir "$t"; shift
done
n=$1; shift; for _ in $(seq "$n"); do mount -t tmpfs bt-private "$1"; shift; done
n=$1; shift; for _ in $(seq "$n"); do mount --bind "$1" "$2"; shift 2; done
n=$1; shift; for _ in $(seq "$n"); do mkdir -p "$1"; shift; done
n=$1; shift; for _ in $(seq "$n"); do dpkg --purge --force-depends "$1"; shift; done
exec nsenter "$@"`;

/**
 * `hide` lists files that sessions of this sshd must not see: sshd runs in a private mount namespace where each
 * is covered by /dev/null (not executable), so a host lacking, say, conmon is met for real without touching
 * this machine's packages.
 * `withoutPackages` names installed Debian packages that sessions see as not installed, so apt-get can really
 * install them there: in the private namespace dpkg's and apt's state are tmpfs copies, apt's cache and the
 * logs are empty tmpfs, the directories of those packages' files are tmpfs copies, and the packages are purged.
 * Whatever apt and dpkg then do in a session stays in those copies and is gone with the namespace. apt's only
 * source there is a local repository the fixture builds from this machine's installed copies of those packages
 * (`dpkg-deb` of the files `dpkg -L` lists, with their control data), so apt-get installs them for real without
 * the test reaching beyond this machine.
 */
export async function startSshd(
  dir: string,
  options: {
    hide?: string[];
    withoutPackages?: string[];
    /** Boot a systemd host in the netns and run sshd as its unit; `binds` are shown there at the same path. */
    systemd?: { binds?: string[] };
  } = {},
): Promise<SshdFixture> {
  if (options.systemd && (options.hide?.length || options.withoutPackages?.length))
    throw new Error('a systemd host hides no files and purges no packages');
  const id = randomBytes(3).toString('hex');
  const netns = `bt-ssh-${id}`;
  const vethHost = `bt-sh${id}`;
  const vethPeer = `bt-sp${id}`;
  const base = `10.${randomInt(200, 250)}.${randomInt(0, 256)}`;
  const quad = randomInt(0, 64) * 4;
  const hostAddress = `${base}.${quad + 1}`;
  const address = `${base}.${quad + 2}`;
  const userName = `bt-ssh-${id}`;
  const sudoers = `/etc/sudoers.d/bt-ssh-${id}`;
  const port = 22;
  let sshd: ChildProcess | undefined;
  let output = '';
  let madeRunSshd = false;
  let madeUser = false;
  let madeNetns = false;
  let repository: { dir: string; sources: string } | undefined;
  let booted: SystemdHost | undefined;

  const close = async () => {
    await booted?.close();
    if (sshd?.pid && sshd.exitCode === null) {
      const exited = new Promise((resolve) => sshd?.once('exit', resolve));
      sshd.kill('SIGTERM');
      await exited;
    }
    if (madeUser) await run('userdel', ['-r', userName]).catch(() => undefined);
    await rm(sudoers, { force: true });
    // What sessions started and left behind (a detached agent, an apt-get cut short): every process in the netns
    // came from this sshd.
    if (madeNetns) {
      const pids = await run('ip', ['netns', 'pids', netns]).catch(() => ({ stdout: '' }));
      for (const pid of pids.stdout.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {}
      }
    }
    if (madeNetns) await run('ip', ['netns', 'del', netns]).catch(() => undefined);
    await run('ip', ['link', 'del', vethHost]).catch(() => undefined);
    if (madeRunSshd) await rm('/run/sshd', { recursive: true, force: true });
    if (repository) await rm(repository.dir, { recursive: true, force: true });
  };

  const keygen = async (name: string) => {
    await rm(join(dir, name), { force: true });
    await rm(join(dir, `${name}.pub`), { force: true });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bt', '-f', join(dir, name)]);
  };
  const fingerprintOf = async (name: string) =>
    (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, `${name}.pub`)])).stdout.split(
      ' ',
    )[1] as string;

  const sshdCommand = ['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')];

  const launchSystemd = async () => {
    if (booted) {
      const restarted = await booted.exec(['systemctl', 'restart', 'bt-sshd.service']);
      if (restarted.code !== 0) throw new Error(`sshd did not restart: ${restarted.stderr}`);
    } else {
      booted = await bootSystemd({
        netns,
        dir: join(dir, 'machine'),
        units: {
          'bt-sshd.service': [
            '[Unit]',
            'Description=OpenSSH server of the test host',
            '[Service]',
            `ExecStart=${sshdCommand.join(' ')}`,
            // sshd's privilege-separation directory.
            'RuntimeDirectory=sshd',
            '',
          ].join('\n'),
        },
        readOnlyBinds: [dir],
        binds: options.systemd?.binds ?? [],
      });
    }
    await waitForPort(address, port, 30_000).catch((error: Error) => {
      throw new Error(`${error.message}:\n${booted?.console() ?? ''}`);
    });
  };

  const launch = async () => {
    if (options.systemd) return launchSystemd();
    // nsenter, not `ip netns exec`: the latter also remounts /sys in a new mount namespace, which hides
    // /sys/fs/cgroup from the agent that sshd's sessions start (it needs the host's cgroups).
    const command = [`--net=/run/netns/${netns}`, ...sshdCommand];
    const hide = [...(options.hide ?? [])];
    const purge = options.withoutPackages ?? [];
    const copies = purge.length
      ? ['/var/lib/dpkg', '/var/lib/apt', ...(await Promise.all(purge.map(packageDirs))).flat()]
      : [];
    const empties = purge.length ? ['/var/cache/apt', '/var/log'] : [];
    // [source, target]: apt's sources there name only the local repository.
    const binds: Array<[string, string]> = [];
    if (purge.length) {
      repository ??= await localRepository(purge);
      binds.push([repository.sources, '/etc/apt/sources.list.d']);
    }
    if (purge.length && existsSync('/etc/apt/sources.list')) hide.push('/etc/apt/sources.list');
    const made = purge.length ? ['/var/cache/apt/archives/partial', '/var/log/apt'] : [];
    const group = (items: string[]) => [String(items.length), ...items];
    sshd =
      hide.length || purge.length
        ? spawn(
            'unshare',
            [
              '--mount',
              '--propagation',
              'private',
              '--',
              'sh',
              '-c',
              namespaceScript,
              'sh',
              ...group(hide),
              ...group([...new Set(copies)]),
              ...group(empties),
              String(binds.length),
              ...binds.flat(),
              ...group(made),
              ...group(purge),
              ...command,
            ],
            { stdio: ['ignore', 'pipe', 'pipe'] },
          )
        : spawn('nsenter', command, { stdio: ['ignore', 'pipe', 'pipe'] });
    sshd.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    sshd.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitForPort(address, port, 30_000).catch((error: Error) => {
      throw new Error(`${error.message}:\n${output}`);
    });
  };

  try {
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o755);
    if (!options.systemd && !existsSync('/run/sshd')) {
      // sshd's privilege-separation directory; Debian's package makes it at boot through systemd-tmpfiles.
      await mkdir('/run/sshd', { mode: 0o755 });
      madeRunSshd = true;
    }
    await run('ip', ['netns', 'add', netns]);
    madeNetns = true;
    await run('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethPeer]);
    await run('ip', ['link', 'set', vethPeer, 'netns', netns]);
    await run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', vethHost]);
    await run('ip', ['link', 'set', vethHost, 'up']);
    await run('ip', ['-n', netns, 'addr', 'add', `${address}/30`, 'dev', vethPeer]);
    await run('ip', ['-n', netns, 'link', 'set', vethPeer, 'up']);
    await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', netns, 'route', 'add', 'default', 'via', hostAddress]);

    await keygen('host_key');
    await keygen('root_key');
    await mkdir(join(dir, 'authorized'), { mode: 0o755 });
    await writeFile(join(dir, 'authorized', 'root'), await readFile(join(dir, 'root_key.pub')), {
      mode: 0o644,
    });

    const password = `pw-${randomBytes(9).toString('base64url')}`;
    await run('useradd', ['--create-home', '--shell', '/bin/sh', userName]);
    madeUser = true;
    await new Promise<void>((resolve, reject) => {
      const child = execFile('chpasswd', (error) => (error ? reject(error) : resolve()));
      child.stdin?.end(`${userName}:${password}\n`);
    });
    await writeFile(sudoers, `${userName} ALL=(ALL:ALL) ALL\n`, { mode: 0o440 });
    await run('visudo', ['-c', '-f', sudoers]);

    await writeFile(
      join(dir, 'sshd_config'),
      [
        `ListenAddress ${address}:${port}`,
        `HostKey ${join(dir, 'host_key')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized')}/%u`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        // Without PAM sshd checks passwords against /etc/shadow itself, and opens no login session.
        'UsePAM no',
        'StrictModes no',
        'Subsystem sftp internal-sftp',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    await launch();
    return {
      address,
      hostAddress,
      port,
      netns,
      fingerprint: await fingerprintOf('host_key'),
      rootKey: await readFile(join(dir, 'root_key'), 'utf8'),
      user: { name: userName, password, sudoPassword: password },
      exec: async (command) => {
        if (booted) return booted.exec(command);
        return runCommand(command[0] as string, command.slice(1));
      },
      log: () => (booted ? booted.console() : output),
      rotateHostKey: async () => {
        if (sshd?.pid && sshd.exitCode === null) {
          const exited = new Promise((resolve) => sshd?.once('exit', resolve));
          sshd.kill('SIGTERM');
          await exited;
        }
        await keygen('host_key');
        await launch();
        return fingerprintOf('host_key');
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
