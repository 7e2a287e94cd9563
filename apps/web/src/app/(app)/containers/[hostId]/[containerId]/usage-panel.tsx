'use client';

import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { formatBinaryBytes, formatBytes } from '../../../../../lib/format';
import { useTRPC } from '../../../../../lib/trpc';
import { cpuPercent } from '../../../../../lib/usage';
import type { ContainerUsage } from '../../../../../server/containers/detail-schemas';

const refreshMs = 2000;

function Figure(props: {
  label: string;
  value: string;
  detail?: string;
  share?: number | null;
  testId: string;
}) {
  const share = props.share == null ? null : Math.min(100, Math.max(0, props.share));
  return (
    <div data-testid={props.testId}>
      <dt className="text-xs text-slate-500 dark:text-slate-400">{props.label}</dt>
      <dd className="mt-0.5 font-mono text-sm">
        {props.value}
        {props.detail ? <span className="text-slate-500"> {props.detail}</span> : null}
      </dd>
      {share === null ? null : (
        <meter className="mt-1 block h-2 w-full" min={0} max={100} value={share} aria-label={props.label} />
      )}
    </div>
  );
}

/** Live usage of a running container, as `docker stats` shows it: a sample every two seconds from its agent. */
export function UsagePanel(props: { teamId: string; hostId: string; containerId: string; running: boolean }) {
  const trpc = useTRPC();
  const usage = useQuery({
    ...trpc.containers.usage.queryOptions({
      teamId: props.teamId,
      hostId: props.hostId,
      containerId: props.containerId,
    }),
    enabled: props.running,
    refetchInterval: refreshMs,
    retry: false,
  });
  const previous = useRef<ContainerUsage | undefined>(undefined);
  const [cpu, setCpu] = useState<number | null>(null);
  useEffect(() => {
    const current = usage.data;
    if (!current) return;
    const before = previous.current;
    if (before && before.read !== current.read) setCpu(cpuPercent(before, current));
    previous.current = current;
  }, [usage.data]);

  const sample = usage.data;
  return (
    <section
      data-testid="usage"
      className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-700 dark:bg-slate-900"
    >
      <h3 className="font-medium">Usage</h3>
      {!props.running ? (
        <p className="mt-2 text-sm text-slate-500">Not running.</p>
      ) : usage.error ? (
        <p role="alert" className="mt-2 text-sm text-red-700">
          {usage.error.message}
        </p>
      ) : !sample ? (
        <p className="mt-2 text-sm text-slate-500">Loading…</p>
      ) : (
        <dl className="mt-2 grid grid-cols-2 gap-4 sm:grid-cols-5">
          <Figure
            label="CPU"
            testId="usage-cpu"
            value={cpu === null ? '…' : `${cpu.toFixed(1)}%`}
            detail={`of ${sample.onlineCpus} CPU${sample.onlineCpus === 1 ? '' : 's'}`}
            share={cpu === null ? null : cpu / Math.max(1, sample.onlineCpus)}
          />
          <Figure
            label="Memory"
            testId="usage-memory"
            value={formatBinaryBytes(sample.memoryUsed)}
            detail={`/ ${formatBinaryBytes(sample.memoryLimit)}`}
            share={sample.memoryLimit ? (sample.memoryUsed / sample.memoryLimit) * 100 : null}
          />
          <Figure
            label="Processes"
            testId="usage-pids"
            value={sample.pids === null ? '–' : String(sample.pids)}
            {...(sample.pidsLimit ? { detail: `/ ${sample.pidsLimit}` } : {})}
          />
          <Figure
            label="Network I/O"
            testId="usage-network"
            value={`${formatBytes(sample.networkRx)} / ${formatBytes(sample.networkTx)}`}
            detail="in / out"
          />
          <Figure
            label="Block I/O"
            testId="usage-block"
            value={`${formatBytes(sample.blockRead)} / ${formatBytes(sample.blockWrite)}`}
            detail="read / written"
          />
        </dl>
      )}
    </section>
  );
}
