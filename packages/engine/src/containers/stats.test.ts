import { totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseNetDev, runcStatsSchema, statsFromRunc, systemCpuUsage } from './stats';

// Trimmed from `runc events --stats` of a busybox container under a 64 MiB limit on this machine (cgroup v1).
const runcOutput = {
  type: 'stats',
  id: 'c1',
  data: {
    cpu: {
      usage: { total: 15789417, percpu: [10881415, 4908002], kernel: 10000000, user: 0 },
      throttling: {},
    },
    memory: {
      cache: 77824,
      usage: { limit: 67108864, usage: 696320, max: 2760704, failcnt: 0 },
      raw: { total_inactive_file: 12288, rss: 57344 },
    },
    pids: { current: 1 },
    blkio: { ioServiceBytesRecursive: [{ major: 254, minor: 0, op: 'Read', value: 4096 }] },
    hugetlb: { '2MB': { failcnt: 0 } },
  },
};

describe('stats', () => {
  it("maps runc's counters onto dockerd's stats shape", () => {
    const stats = statsFromRunc(runcStatsSchema.parse(runcOutput), {
      id: 'c1',
      name: 'web',
      read: new Date('2026-11-23T10:00:00Z'),
      systemCpuUsage: 5_000_000_000,
      onlineCpus: 2,
    });
    expect(stats).toMatchObject({
      id: 'c1',
      name: '/web',
      read: '2026-11-23T10:00:00.000Z',
      cpu_stats: {
        cpu_usage: {
          total_usage: 15789417,
          percpu_usage: [10881415, 4908002],
          usage_in_kernelmode: 10000000,
        },
        system_cpu_usage: 5_000_000_000,
        online_cpus: 2,
        throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
      },
      memory_stats: {
        usage: 696320,
        max_usage: 2760704,
        limit: 67108864,
        stats: { total_inactive_file: 12288 },
      },
      pids_stats: { current: 1 },
      blkio_stats: { io_service_bytes_recursive: [{ major: 254, minor: 0, op: 'Read', value: 4096 }] },
    });
    expect(stats.networks).toBeUndefined();
  });

  it("reports the host's memory as the limit of an unlimited container, as dockerd does", () => {
    const unlimited = structuredClone(runcOutput);
    // cgroup v1's "no limit", 2^63 rounded down to a page.
    unlimited.data.memory.usage.limit = 2 ** 63 - 4096;
    const stats = statsFromRunc(runcStatsSchema.parse(unlimited), {
      id: 'c1',
      name: 'web',
      read: new Date(),
      systemCpuUsage: 0,
      onlineCpus: 2,
    });
    expect(stats.memory_stats.limit).toBe(totalmem());
  });

  it('reads interfaces from /proc/<pid>/net/dev without loopback', () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0
  eth0:    5321      41    1    2    0     0          0         0     1432      17    3    4    0     0       0          0
`;
    expect(parseNetDev(text)).toEqual({
      eth0: {
        rx_bytes: 5321,
        rx_packets: 41,
        rx_errors: 1,
        rx_dropped: 2,
        tx_bytes: 1432,
        tx_packets: 17,
        tx_errors: 3,
        tx_dropped: 4,
      },
    });
  });

  it("counts the host's CPU time in nanoseconds from /proc/stat's first eight fields", () => {
    expect(systemCpuUsage('cpu  100 1 50 1000 10 0 5 0 7 0\ncpu0 50 0 25 500 5 0 2 0 0 0\n')).toBe(
      (100 + 1 + 50 + 1000 + 10 + 0 + 5 + 0) * 10_000_000,
    );
  });
});
