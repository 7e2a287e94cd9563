'use client';

import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../../lib/trpc';

export function HostsView() {
  const trpc = useTRPC();
  const me = useQuery(trpc.me.queryOptions());
  const team = me.data?.teams[0];
  const hosts = useQuery({
    ...trpc.hosts.list.queryOptions({ teamId: team?.teamId ?? '00000000-0000-4000-8000-000000000000' }),
    enabled: Boolean(team),
  });
  if (me.isPending || (team && hosts.isPending)) return <p className="text-slate-500">Loading…</p>;
  if (me.error || hosts.error)
    return <p role="alert">Could not load hosts: {(me.error ?? hosts.error)?.message}</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  return (
    <section>
      <h1 className="text-2xl font-semibold">Hosts</h1>
      <p className="mt-1 text-sm text-slate-600">
        Team {team.teamName} · your role: {team.role}
      </p>
      {hosts.data?.length ? (
        <table className="mt-6 w-full border-collapse text-left text-sm">
          <thead>
            <tr className="border-b border-slate-200 text-slate-500">
              <th className="py-2">Name</th>
              <th className="py-2">Enrolled</th>
              <th className="py-2">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {hosts.data.map((host) => (
              <tr key={host.id} className="border-b border-slate-100">
                <td className="py-2 font-medium">{host.name}</td>
                <td className="py-2">{host.enrolled ? 'yes' : 'waiting for the agent'}</td>
                <td className="py-2">
                  {host.lastSeenAt ? new Date(host.lastSeenAt).toLocaleString() : 'never'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div
          className="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center"
          data-testid="hosts-empty"
        >
          <h2 className="font-medium">No hosts yet</h2>
          <p className="mt-2 text-sm text-slate-600">
            A host joins when its Berth agent connects to this control plane. On the host, run the agent with
            this control plane&apos;s address:{' '}
            <code className="rounded bg-slate-100 px-1">npm run agent -- --help</code> lists the options.
          </p>
        </div>
      )}
    </section>
  );
}
