/** Usage figures between two samples of a container, computed as `docker stats` computes them. */

export interface CpuSample {
  /** The container's CPU time, nanoseconds. */
  cpuTotal: number;
  /** The host's CPU time over all CPUs, nanoseconds. */
  systemCpu: number;
  onlineCpus: number;
}

/** The container's share of the host's CPU time between the samples, times the CPUs (100% is one CPU). */
export function cpuPercent(previous: CpuSample, current: CpuSample): number | null {
  const cpu = current.cpuTotal - previous.cpuTotal;
  const system = current.systemCpu - previous.systemCpu;
  if (cpu < 0 || system <= 0 || current.onlineCpus <= 0) return null;
  return (cpu / system) * current.onlineCpus * 100;
}
