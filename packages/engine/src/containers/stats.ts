/**
 * Resource usage of a container in the Docker Engine API's stats shape (`GET /containers/{id}/stats`), from
 * `runc events --stats` (runc reads the cgroup files of either cgroup version) and the container's own
 * /proc/<pid>/net/dev. One sample carries no `precpu_stats`: whoever streams samples pairs each with the
 * previous one, as dockerd does.
 */
import { readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { z } from 'zod';

const counter = z.number().nonnegative().catch(0);
const blkioEntry = z.object({ major: counter, minor: counter, op: z.string().catch(''), value: counter });
const blkioList = z.array(blkioEntry).nullish();

/** The part of runc's `events --stats` answer this reads; anything else runc adds is ignored. */
export const runcStatsSchema = z.object({
  type: z.literal('stats'),
  data: z.object({
    cpu: z
      .object({
        usage: z
          .object({
            total: counter,
            percpu: z.array(counter).nullish(),
            kernel: counter,
            user: counter,
          })
          .partial()
          .nullish(),
        throttling: z
          .object({ periods: counter, throttled_periods: counter, throttled_time: counter })
          .partial()
          .nullish(),
      })
      .nullish(),
    memory: z
      .object({
        usage: z
          .object({ usage: counter, max: counter, limit: counter, failcnt: counter })
          .partial()
          .nullish(),
        raw: z.record(z.string(), counter).nullish(),
      })
      .nullish(),
    pids: z.object({ current: counter, limit: counter }).partial().nullish(),
    blkio: z
      .object({
        ioServiceBytesRecursive: blkioList,
        ioServicedRecursive: blkioList,
        ioQueuedRecursive: blkioList,
        ioServiceTimeRecursive: blkioList,
        ioWaitTimeRecursive: blkioList,
        ioMergedRecursive: blkioList,
        ioTimeRecursive: blkioList,
        sectorsRecursive: blkioList,
      })
      .partial()
      .nullish(),
  }),
});
export type RuncStats = z.infer<typeof runcStatsSchema>;

export interface CpuStats {
  cpu_usage: {
    total_usage: number;
    percpu_usage?: number[];
    usage_in_kernelmode: number;
    usage_in_usermode: number;
  };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface NetworkStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

type BlkioEntry = z.infer<typeof blkioEntry>;

export interface ContainerStats {
  id: string;
  name: string;
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: {
    io_service_bytes_recursive: BlkioEntry[] | null;
    io_serviced_recursive: BlkioEntry[] | null;
    io_queue_recursive: BlkioEntry[] | null;
    io_service_time_recursive: BlkioEntry[] | null;
    io_wait_time_recursive: BlkioEntry[] | null;
    io_merged_recursive: BlkioEntry[] | null;
    io_time_recursive: BlkioEntry[] | null;
    sectors_recursive: BlkioEntry[] | null;
  };
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: {
    usage?: number;
    max_usage?: number;
    failcnt?: number;
    limit?: number;
    stats?: Record<string, number>;
  };
  networks?: Record<string, NetworkStats>;
}

export const zeroTime = '0001-01-01T00:00:00Z';

/** What dockerd reports for a container that does not run: every figure zero, no read time. */
export function emptyStats(id: string, name: string): ContainerStats {
  const cpu: CpuStats = {
    cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
  return {
    id,
    name: `/${name}`,
    read: zeroTime,
    preread: zeroTime,
    pids_stats: {},
    blkio_stats: {
      io_service_bytes_recursive: null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu,
    precpu_stats: structuredClone(cpu),
    memory_stats: {},
  };
}

/** cgroup v1 and v2 say "no limit" with the largest page-aligned number; Docker then reports the host's memory. */
const unlimited = 2 ** 62;

export function statsFromRunc(
  runc: RuncStats,
  extra: {
    id: string;
    name: string;
    read: Date;
    systemCpuUsage: number;
    onlineCpus: number;
    networks?: Record<string, NetworkStats>;
  },
): ContainerStats {
  const stats = emptyStats(extra.id, extra.name);
  const { cpu, memory, pids, blkio } = runc.data;
  stats.read = extra.read.toISOString();
  stats.cpu_stats = {
    cpu_usage: {
      total_usage: cpu?.usage?.total ?? 0,
      ...(cpu?.usage?.percpu?.length ? { percpu_usage: cpu.usage.percpu } : {}),
      usage_in_kernelmode: cpu?.usage?.kernel ?? 0,
      usage_in_usermode: cpu?.usage?.user ?? 0,
    },
    system_cpu_usage: extra.systemCpuUsage,
    online_cpus: extra.onlineCpus,
    throttling_data: {
      periods: cpu?.throttling?.periods ?? 0,
      throttled_periods: cpu?.throttling?.throttled_periods ?? 0,
      throttled_time: cpu?.throttling?.throttled_time ?? 0,
    },
  };
  const limit = memory?.usage?.limit;
  stats.memory_stats = {
    usage: memory?.usage?.usage ?? 0,
    max_usage: memory?.usage?.max ?? 0,
    failcnt: memory?.usage?.failcnt ?? 0,
    limit: limit === undefined || limit === 0 || limit >= unlimited ? totalmem() : limit,
    stats: memory?.raw ?? {},
  };
  stats.pids_stats = {
    ...(pids?.current !== undefined ? { current: pids.current } : {}),
    ...(pids?.limit ? { limit: pids.limit } : {}),
  };
  stats.blkio_stats = {
    io_service_bytes_recursive: blkio?.ioServiceBytesRecursive ?? null,
    io_serviced_recursive: blkio?.ioServicedRecursive ?? null,
    io_queue_recursive: blkio?.ioQueuedRecursive ?? null,
    io_service_time_recursive: blkio?.ioServiceTimeRecursive ?? null,
    io_wait_time_recursive: blkio?.ioWaitTimeRecursive ?? null,
    io_merged_recursive: blkio?.ioMergedRecursive ?? null,
    io_time_recursive: blkio?.ioTimeRecursive ?? null,
    sectors_recursive: blkio?.sectorsRecursive ?? null,
  };
  if (extra.networks) stats.networks = extra.networks;
  return stats;
}

/** /proc/<pid>/net/dev of the container's namespace, loopback left out as dockerd leaves it out. */
export function parseNetDev(text: string): Record<string, NetworkStats> {
  const out: Record<string, NetworkStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (name === 'lo' || fields.length < 16 || fields.some(Number.isNaN)) continue;
    const [rxBytes, rxPackets, rxErrors, rxDropped, , , , , txBytes, txPackets, txErrors, txDropped] =
      fields as number[];
    out[name] = {
      rx_bytes: rxBytes as number,
      rx_packets: rxPackets as number,
      rx_errors: rxErrors as number,
      rx_dropped: rxDropped as number,
      tx_bytes: txBytes as number,
      tx_packets: txPackets as number,
      tx_errors: txErrors as number,
      tx_dropped: txDropped as number,
    };
  }
  return out;
}

/** The host's CPU time in nanoseconds as dockerd counts it: the first line of /proc/stat, in clock ticks of 1/100 s. */
export function systemCpuUsage(procStat: string): number {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .reduce((sum, value) => sum + (Number(value) || 0), 0);
  return ticks * 10_000_000;
}

export async function hostCpu(): Promise<{ systemCpuUsage: number; onlineCpus: number }> {
  return { systemCpuUsage: systemCpuUsage(await readFile('/proc/stat', 'utf8')), onlineCpus: cpus().length };
}
