/**
 * The OCI runtime spec for a container, with Docker's defaults (moby's `oci/defaults.go` and daemon
 * `oci_linux.go` are the reference for the namespaces, capabilities, masked paths and mounts).
 */
import { readFileSync } from 'node:fs';

export const defaultCapabilities = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const allCapabilities = [
  'CAP_AUDIT_CONTROL',
  'CAP_AUDIT_READ',
  'CAP_AUDIT_WRITE',
  'CAP_BLOCK_SUSPEND',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_KILL',
  'CAP_LEASE',
  'CAP_LINUX_IMMUTABLE',
  'CAP_MAC_ADMIN',
  'CAP_MAC_OVERRIDE',
  'CAP_MKNOD',
  'CAP_NET_ADMIN',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_RAW',
  'CAP_PERFMON',
  'CAP_SETFCAP',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETUID',
  'CAP_SYSLOG',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_CHROOT',
  'CAP_SYS_MODULE',
  'CAP_SYS_NICE',
  'CAP_SYS_PACCT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_WAKE_ALARM',
];

const maskedPaths = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
const readonlyPaths = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** `NET_ADMIN`, `cap_net_admin` and `CAP_NET_ADMIN` all name the same capability; `ALL` names every one. */
export function normalizeCapability(name: string): string {
  const upper = name.toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!allCapabilities.includes(full)) throw new Error(`unknown capability: "${name}"`);
  return full;
}

/** Capability names by their bit number in the kernel's sets. */
const capabilityBits = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The names set in a `/proc/<pid>/status` capability mask (hex). */
export function capabilitiesInMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return capabilityBits.filter((_, bit) => (mask >> BigInt(bit)) & 1n).sort();
}

let boundingSet: string[] | undefined;

/**
 * What "every capability" can mean here: the ones this process may still hand out (its bounding set), as
 * podman does. An agent itself confined (in a container without CAP_SYS_RESOURCE, say) cannot give more,
 * and runc would refuse a privileged container outright.
 */
function availableCapabilities(): string[] {
  if (!boundingSet) {
    const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    boundingSet = hex ? capabilitiesInMask(hex) : [...allCapabilities];
  }
  return boundingSet;
}

export function effectiveCapabilities(add: string[], drop: string[], privileged: boolean): string[] {
  if (privileged) return [...availableCapabilities()];
  const dropSet = new Set(drop.map(normalizeCapability));
  const addSet = new Set(add.map(normalizeCapability));
  const base = dropSet.has('ALL') ? [] : defaultCapabilities.filter((c) => !dropSet.has(c));
  const extra = addSet.has('ALL') ? availableCapabilities() : [...addSet];
  return [...new Set([...base, ...extra.filter((c) => !dropSet.has(c) || addSet.has(c))])].sort();
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface SpecInput {
  rootfs: string;
  /**
   * The overlay runc mounts on `rootfs` inside the container's own mount namespace (the first of its
   * mounts, so every other lands on top of it). Nothing is mounted on the host: the kernel unmounts it
   * with the namespace when the last process exits.
   */
  rootfsOverlay?: string[];
  readonlyRootfs: boolean;
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  terminal: boolean;
  hostname: string;
  capabilities: string[];
  privileged: boolean;
  /** `host` = share the host's network namespace; a path = join that one; `private` = a new empty one. */
  network: { mode: 'host' } | { mode: 'private' } | { mode: 'path'; path: string };
  mounts: OciMount[];
  cgroupsPath: string;
  memory?: number;
  memorySwap?: number;
  nanoCpus?: number;
  cpuShares?: number;
  pidsLimit?: number;
  shmSize?: number;
  noNewPrivileges?: boolean;
  /** The OCI `linux.seccomp` filter; none when absent (privileged or `seccomp=unconfined`). */
  seccomp?: Record<string, unknown>;
}

/** The host's hard limits, since a container may not ask for more (setrlimit fails otherwise). */
export function hostHardLimits(
  limitsText = readFileSync('/proc/self/limits', 'utf8'),
): Record<string, number> {
  const names: Record<string, string> = {
    'Max open files': 'RLIMIT_NOFILE',
    'Max processes': 'RLIMIT_NPROC',
  };
  const out: Record<string, number> = {};
  for (const line of limitsText.split('\n')) {
    for (const [label, name] of Object.entries(names)) {
      if (!line.startsWith(label)) continue;
      const hard = line.slice(label.length).trim().split(/\s+/)[1];
      out[name] = hard === 'unlimited' || hard === undefined ? Number.MAX_SAFE_INTEGER : Number(hard);
    }
  }
  return out;
}

/** The limits a container runs under (OCI LinuxResources' memory, cpu and pids), for its spec and `runc update`. */
export function limitResources(input: {
  memory?: number | undefined;
  memorySwap?: number | undefined;
  nanoCpus?: number | undefined;
  cpuShares?: number | undefined;
  pidsLimit?: number | undefined;
}): {
  memory?: { limit: number; swap: number };
  cpu?: { quota?: number; period?: number; shares?: number };
  pids?: { limit: number };
} {
  const resources: ReturnType<typeof limitResources> = {};
  // Docker's default: swap may equal the memory limit again unless set.
  if (input.memory)
    resources.memory = {
      limit: input.memory,
      swap: input.memorySwap !== undefined && input.memorySwap !== 0 ? input.memorySwap : input.memory * 2,
    };
  if (input.nanoCpus) resources.cpu = { quota: Math.round(input.nanoCpus / 1e4), period: 100000 };
  if (input.cpuShares) resources.cpu = { ...resources.cpu, shares: input.cpuShares };
  if (input.pidsLimit && input.pidsLimit > 0) resources.pids = { limit: input.pidsLimit };
  return resources;
}

export function buildSpec(input: SpecInput, hardLimits = hostHardLimits()): Record<string, unknown> {
  const nofile = Math.min(1048576, hardLimits.RLIMIT_NOFILE ?? 1048576);
  const shmSize = input.shmSize && input.shmSize > 0 ? input.shmSize : 64 * 1024 * 1024;
  const namespaces: Array<{ type: string; path?: string }> = [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
    { type: 'cgroup' },
  ];
  if (input.network.mode === 'private') namespaces.push({ type: 'network' });
  if (input.network.mode === 'path') namespaces.push({ type: 'network', path: input.network.path });
  const caps = input.capabilities;
  const mounts: OciMount[] = [
    ...(input.rootfsOverlay
      ? [{ destination: '/', type: 'overlay', source: 'overlay', options: input.rootfsOverlay }]
      : []),
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', input.privileged ? 'rw' : 'ro'],
    },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', input.privileged ? 'rw' : 'ro'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`],
    },
    ...input.mounts,
  ];
  const resources: Record<string, unknown> = {
    devices: [{ allow: false, access: 'rwm' }, ...(input.privileged ? [{ allow: true, access: 'rwm' }] : [])],
  };
  Object.assign(resources, limitResources(input));
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: input.terminal,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: input.user.additionalGids },
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
      noNewPrivileges: input.noNewPrivileges ?? false,
      oomScoreAdj: 0,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources,
      ...(input.privileged ? {} : { maskedPaths, readonlyPaths }),
      ...(input.seccomp ? { seccomp: input.seccomp } : {}),
    },
  };
}
