'use client';

import { useInfiniteQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '../../../lib/trpc';
import { Badge, buttonClass, inputClass } from '../fleet-ui';
import { placeholderTeam, useCurrentTeam } from '../team-context';

const states = ['running', 'succeeded', 'failed', 'timed_out'] as const;
type State = (typeof states)[number];

/** What the team asked its agents to do, newest first; refreshed every second while any is running. */
export function OperationsView() {
  const trpc = useTRPC();
  const { me, team } = useCurrentTeam();
  const [state, setState] = useState<State | ''>('');
  const operations = useInfiniteQuery({
    ...trpc.operations.list.infiniteQueryOptions(
      { teamId: team?.teamId ?? placeholderTeam, ...(state ? { state } : {}), limit: 50 },
      { getNextPageParam: (last) => last.nextCursor ?? undefined },
    ),
    enabled: Boolean(team),
    refetchInterval: (query) =>
      query.state.data?.pages.some((p) => p.operations.some((o) => o.state === 'running')) ? 1000 : 5000,
  });
  if (me.isPending) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  const rows = operations.data?.pages.flatMap((p) => p.operations) ?? [];
  return (
    <section>
      <h1 className="text-2xl font-semibold">Operations</h1>
      <p className="mt-1 text-sm text-slate-500">
        Every command sent to an agent. One the agent has not answered is sent again when it reconnects; one
        without an answer by its deadline shows as timed out.
      </p>
      <label className="mt-4 block text-sm">
        State
        <select
          value={state}
          onChange={(event) => setState(event.target.value as State | '')}
          className={`mt-1 block ${inputClass}`}
        >
          <option value="">all</option>
          {states.map((s) => (
            <option key={s} value={s}>
              {s.replace('_', ' ')}
            </option>
          ))}
        </select>
      </label>
      {operations.error ? (
        <p role="alert" className="mt-4 text-red-700">
          {operations.error.message}
        </p>
      ) : null}
      <table className="mt-4 w-full border-collapse text-left text-sm" data-testid="operations-table">
        <thead>
          <tr className="border-b border-slate-200 text-slate-500 dark:border-slate-700">
            <th className="py-1">Asked</th>
            <th className="py-1">By</th>
            <th className="py-1">Host</th>
            <th className="py-1">Command</th>
            <th className="py-1">Target</th>
            <th className="py-1">State</th>
            <th className="py-1">Reason</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id} className="border-b border-slate-100 align-top dark:border-slate-800">
              <td className="py-1 whitespace-nowrap">{new Date(row.createdAt).toLocaleString()}</td>
              <td className="py-1">{row.requestedBy ?? 'system'}</td>
              <td className="py-1">{row.hostName ?? row.hostId.slice(0, 8)}</td>
              <td className="py-1 font-mono">{row.kind}</td>
              <td className="py-1 font-mono text-xs">{row.target ? row.target.slice(0, 64) : ''}</td>
              <td className="py-1">
                <Badge value={row.state.replace('_', ' ')} testId="operation-state" />
              </td>
              <td className="py-1 text-xs">{row.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && !operations.isPending ? (
        <p className="mt-4 text-slate-500">
          No operations yet: actions on containers and images appear here.
        </p>
      ) : null}
      {operations.hasNextPage ? (
        <button
          type="button"
          onClick={() => void operations.fetchNextPage()}
          className={`mt-4 ${buttonClass}`}
        >
          Older operations
        </button>
      ) : null}
    </section>
  );
}
