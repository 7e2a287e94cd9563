/**
 * What a host needs before the agent can run containers: Linux, root, overlayfs in the kernel, cgroups
 * mounted, and the runtime tools (runc, conmon, netavark, aardvark-dns, iptables, ip). `berth-agent check`
 * prints this report (and `--json` for the SSH installer); the agent runs it before starting so a missing tool
 * is said in words a person can act on ("conmon is missing: apt-get install conmon") rather than as a failed
 * container later. The parsers are pure so they are unit-tested on captured text.
 */
import { execFile } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { z } from 'zod';

export const prerequisiteSchema = z.object({
  name: z.string(),
  ok: z.boolean(),
  /** What was found: a version, a mount, or why it is missing. */
  detail: z.string(),
  /** What to do when not ok, in words. */
  fix: z.string().optional(),
  /** The Debian/Ubuntu package that provides it, when installing one fixes it. */
  package: z.string().optional(),
});
export type Prerequisite = z.infer<typeof prerequisiteSchema>;

export const prerequisiteReportSchema = z.object({
  ok: z.boolean(),
  items: z.array(prerequisiteSchema),
  /** Packages whose installation would fix every failed item that a package can fix. */
  missingPackages: z.array(z.string()),
});
export type PrerequisiteReport = z.infer<typeof prerequisiteReportSchema>;

interface Tool {
  name: string;
  package: string;
  args: string[];
  /** Absolute candidates tried before PATH (the engine looks in the same places). */
  candidates: string[];
}

export const tools: readonly Tool[] = [
  { name: 'runc', package: 'runc', args: ['--version'], candidates: ['/usr/sbin/runc', '/usr/bin/runc'] },
  {
    name: 'conmon',
    package: 'conmon',
    args: ['--version'],
    candidates: ['/usr/bin/conmon', '/usr/libexec/podman/conmon'],
  },
  {
    name: 'netavark',
    package: 'netavark',
    args: ['--version'],
    candidates: ['/usr/lib/podman/netavark', '/usr/libexec/podman/netavark', '/usr/bin/netavark'],
  },
  {
    name: 'aardvark-dns',
    package: 'aardvark-dns',
    args: ['--version'],
    candidates: ['/usr/lib/podman/aardvark-dns', '/usr/libexec/podman/aardvark-dns', '/usr/bin/aardvark-dns'],
  },
  {
    name: 'iptables',
    package: 'iptables',
    args: ['--version'],
    candidates: ['/usr/sbin/iptables', '/sbin/iptables', '/usr/bin/iptables'],
  },
  {
    name: 'ip',
    package: 'iproute2',
    args: ['-V'],
    candidates: ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'],
  },
];

/** Whether /proc/filesystems lists overlay (the kernel can mount overlayfs without loading anything). */
export function hasOverlay(procFilesystems: string): boolean {
  return procFilesystems.split('\n').some((line) => line.trim().split(/\s+/).at(-1) === 'overlay');
}

/** Which cgroup hierarchy /proc/self/mounts shows: the unified v2 tree, v1 controllers, or none. */
export function cgroupVersion(procMounts: string): 'v2' | 'v1' | null {
  let v1 = false;
  for (const line of procMounts.split('\n')) {
    const fields = line.split(' ');
    if (fields[2] === 'cgroup2' && fields[1] === '/sys/fs/cgroup') return 'v2';
    if (fields[2] === 'cgroup') v1 = true;
  }
  if (v1) return 'v1';
  // A cgroup2 tree mounted elsewhere (a container's nested view) still counts as v2.
  return procMounts.split('\n').some((line) => line.split(' ')[2] === 'cgroup2') ? 'v2' : null;
}

/** The first dotted version number in a tool's `--version` output ("runc version 1.1.5+ds1" → "1.1.5+ds1"). */
export function parseVersion(output: string): string | null {
  const match = /\bv?(\d+\.\d+(?:\.\d+)?(?:[-+~][\w.+~-]*)?)/.exec(output);
  return match?.[1] ?? null;
}

/** Node's own version against the bundle's floor (>= 20.19, or 22.12+). */
export function nodeVersionOk(version: string): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  if (major === 20) return minor >= 19;
  if (major === 22) return minor >= 12;
  return major > 22;
}

export interface CheckEnvironment {
  platform: NodeJS.Platform;
  uid: number | undefined;
  nodeVersion: string;
  path: string;
  readText: (path: string) => Promise<string>;
  run: (file: string, args: string[]) => Promise<string>;
  executable: (path: string) => Promise<boolean>;
}

export function hostEnvironment(): CheckEnvironment {
  return {
    platform: process.platform,
    uid: process.getuid?.(),
    nodeVersion: process.version,
    path: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    readText: (path) => readFile(path, 'utf8'),
    run: (file, args) =>
      new Promise((resolve, reject) => {
        execFile(file, args, { timeout: 10_000 }, (error, stdout, stderr) => {
          // Some tools print their version on stderr, and a few exit non-zero after printing it.
          const text = `${stdout}${stderr}`;
          if (error && !text.trim()) reject(error);
          else resolve(text);
        });
      }),
    executable: (path) =>
      access(path, constants.X_OK).then(
        () => true,
        () => false,
      ),
  };
}

async function locate(tool: Tool, env: CheckEnvironment): Promise<string | null> {
  const pathDirs = env.path.split(delimiter).filter((dir) => dir.startsWith('/'));
  for (const candidate of [...tool.candidates, ...pathDirs.map((dir) => join(dir, tool.name))])
    if (await env.executable(candidate)) return candidate;
  return null;
}

export async function checkPrerequisites(
  env: CheckEnvironment = hostEnvironment(),
): Promise<PrerequisiteReport> {
  const items: Prerequisite[] = [];
  items.push(
    env.platform === 'linux'
      ? { name: 'linux', ok: true, detail: 'Linux' }
      : {
          name: 'linux',
          ok: false,
          detail: `this is ${env.platform}`,
          fix: 'run the agent on a Linux host (runc, overlayfs and namespaces are Linux-only)',
        },
  );
  items.push(
    env.uid === 0
      ? { name: 'root', ok: true, detail: 'running as root' }
      : {
          name: 'root',
          ok: false,
          detail: `running as uid ${env.uid ?? 'unknown'}`,
          fix: 'run the agent as root (it mounts overlayfs and creates network namespaces)',
        },
  );
  items.push(
    nodeVersionOk(env.nodeVersion)
      ? { name: 'node', ok: true, detail: env.nodeVersion }
      : {
          name: 'node',
          ok: false,
          detail: `Node ${env.nodeVersion}`,
          fix: 'install Node.js 20.19 or newer (Debian 13: apt-get install nodejs; Debian 12 ships 18, use NodeSource)',
        },
  );
  const filesystems = await env.readText('/proc/filesystems').catch(() => '');
  items.push(
    hasOverlay(filesystems)
      ? { name: 'overlayfs', ok: true, detail: 'overlay in /proc/filesystems' }
      : {
          name: 'overlayfs',
          ok: false,
          detail: 'overlay is not in /proc/filesystems',
          fix: 'load the overlay module (modprobe overlay, and add "overlay" to /etc/modules-load.d/berth.conf)',
        },
  );
  const cgroups = cgroupVersion(await env.readText('/proc/self/mounts').catch(() => ''));
  items.push(
    cgroups
      ? { name: 'cgroups', ok: true, detail: `cgroup ${cgroups} mounted` }
      : {
          name: 'cgroups',
          ok: false,
          detail: 'no cgroup filesystem is mounted',
          fix: 'mount cgroup2 on /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup); systemd hosts do this at boot',
        },
  );
  for (const tool of tools) {
    const path = await locate(tool, env);
    if (!path) {
      items.push({
        name: tool.name,
        ok: false,
        detail: `${tool.name} is missing`,
        fix: `apt-get install ${tool.package}`,
        package: tool.package,
      });
      continue;
    }
    const output = await env.run(path, tool.args).catch((error: Error) => `error: ${error.message}`);
    const version = parseVersion(output);
    items.push(
      version
        ? { name: tool.name, ok: true, detail: `${tool.name} ${version} (${path})` }
        : {
            name: tool.name,
            ok: false,
            detail: `${path} did not report a version: ${output.trim().slice(0, 200)}`,
            fix: `reinstall it: apt-get install --reinstall ${tool.package}`,
            package: tool.package,
          },
    );
  }
  const missingPackages = [
    ...new Set(items.flatMap((item) => (!item.ok && item.package ? [item.package] : []))),
  ];
  return { ok: items.every((item) => item.ok), items, missingPackages };
}

/** The report in lines a person reads: one per item, with what to do for each failed one. */
export function formatReport(report: PrerequisiteReport): string {
  const lines = report.items.map((item) =>
    item.ok
      ? `ok      ${item.name}: ${item.detail}`
      : `MISSING ${item.name}: ${item.detail} — ${item.fix ?? ''}`,
  );
  if (report.missingPackages.length)
    lines.push(`To install what is missing: apt-get install -y ${report.missingPackages.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
