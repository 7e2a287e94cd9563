'use client';

import { useInfiniteQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '../../../lib/trpc';
import { placeholderTeam, useCurrentTeam } from '../team-context';

export function AuditView() {
  const trpc = useTRPC();
  // The team picked in the header's switcher (the first one unless another was picked).
  const { me, team } = useCurrentTeam();
  const [action, setAction] = useState('');
  const isAdmin = team?.role === 'owner' || team?.role === 'admin';
  const entries = useInfiniteQuery({
    ...trpc.audit.list.infiniteQueryOptions(
      { teamId: team?.teamId ?? placeholderTeam, ...(action ? { action } : {}), limit: 50 },
      { getNextPageParam: (last) => last.nextCursor ?? undefined },
    ),
    enabled: Boolean(team && isAdmin),
  });
  if (me.isPending) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  if (!isAdmin) return <p role="alert">The audit log is for the team&apos;s owners and admins.</p>;
  const rows = entries.data?.pages.flatMap((p) => p.rows) ?? [];
  return (
    <section>
      <h1 className="text-2xl font-semibold">Audit log</h1>
      <label className="mt-4 block text-sm">
        Filter by action
        <input
          value={action}
          onChange={(event) => setAction(event.target.value.toLowerCase().replace(/[^a-z_.]/g, ''))}
          placeholder="container, auth.sign_in…"
          className="mt-1 block w-64 rounded border border-slate-300 px-2 py-1"
        />
      </label>
      {entries.error ? (
        <p role="alert" className="mt-4 text-red-700">
          {entries.error.message}
        </p>
      ) : null}
      <table className="mt-4 w-full border-collapse text-left text-sm" data-testid="audit-table">
        <thead>
          <tr className="border-b border-slate-200 text-slate-500">
            <th className="py-1">When</th>
            <th className="py-1">Who</th>
            <th className="py-1">Action</th>
            <th className="py-1">Target</th>
            <th className="py-1">Details</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id} className="border-b border-slate-100 align-top">
              <td className="py-1 whitespace-nowrap">{new Date(row.at).toLocaleString()}</td>
              <td className="py-1">{row.actor ?? 'system'}</td>
              <td className="py-1 font-mono">{row.action}</td>
              <td className="py-1 font-mono text-xs">{row.target ?? ''}</td>
              <td className="py-1 font-mono text-xs">{row.detail ? JSON.stringify(row.detail) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && !entries.isPending ? <p className="mt-4 text-slate-500">No entries.</p> : null}
      {entries.hasNextPage ? (
        <button
          type="button"
          onClick={() => void entries.fetchNextPage()}
          className="mt-4 rounded border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100"
        >
          Older entries
        </button>
      ) : null}
    </section>
  );
}
