'use client';

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { Fragment, useState } from 'react';
import { useTRPC } from '../../../lib/trpc';
import { Badge, buttonClass, inputClass, Pager, useDebounced } from '../fleet-ui';
import { placeholderTeam, useCurrentTeam } from '../team-context';
import { AddHost, ContainerActions, DeployForm, LogsPanel } from './host-parts';

export function HostsView() {
  const trpc = useTRPC();
  const [logsOf, setLogsOf] = useState<string | null>(null);
  const [search, setSearch] = useState('');
  const [labels, setLabels] = useState('');
  const [page, setPage] = useState(1);
  const { me, team, canOperate, isAdmin } = useCurrentTeam();
  const labelFilters = useDebounced(labels)
    .split(',')
    .map((l) => l.trim())
    .filter(Boolean);
  const hosts = useQuery({
    ...trpc.hosts.list.queryOptions({
      teamId: team?.teamId ?? placeholderTeam,
      search: useDebounced(search),
      labels: labelFilters,
      page,
    }),
    enabled: Boolean(team),
    placeholderData: keepPreviousData,
    refetchInterval: 2000,
  });
  if (me.isPending || (team && hosts.isPending)) return <p className="text-slate-500">Loading…</p>;
  if (me.error || hosts.error)
    return <p role="alert">Could not load hosts: {(me.error ?? hosts.error)?.message}</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  const filtered = Boolean(search || labelFilters.length);
  const rows = hosts.data?.rows ?? [];
  return (
    <section>
      <h1 className="text-2xl font-semibold">Hosts</h1>
      <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
        Team {team.teamName} · your role: <span data-testid="my-role">{team.role}</span>
      </p>
      <AddHost teamId={team.teamId} canAdd={isAdmin} />
      {rows.length || filtered ? (
        <div className="mt-4 flex flex-wrap items-end gap-3">
          <label className="text-sm">
            Search
            <input
              type="search"
              value={search}
              onChange={(e) => {
                setSearch(e.target.value);
                setPage(1);
              }}
              placeholder="name or OS"
              className={`mt-1 block w-56 ${inputClass}`}
            />
          </label>
          <label className="text-sm">
            Labels
            <input
              value={labels}
              onChange={(e) => {
                setLabels(e.target.value);
                setPage(1);
              }}
              placeholder="env=prod, gpu"
              className={`mt-1 block w-56 ${inputClass}`}
            />
          </label>
        </div>
      ) : null}
      {rows.length ? (
        <>
          <ul className="mt-6 space-y-4">
            {rows.map((host) => (
              <li
                key={host.id}
                className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900"
                data-testid={`host-${host.name}`}
              >
                <div className="flex flex-wrap items-center gap-3">
                  <Link href={`/hosts/${host.id}`} className="font-medium hover:underline">
                    {host.name}
                  </Link>
                  <Badge value={host.status} testId="host-status" />
                  <span className="text-xs text-slate-500 dark:text-slate-400">
                    {host.os ?? ''} {host.agentVersion ? `· agent ${host.agentVersion}` : ''} ·{' '}
                    {host.containerCount} containers
                    {host.states.running ? ` (${host.states.running} running)` : ''} · {host.images} images ·
                    last seen {host.lastSeenAt ? new Date(host.lastSeenAt).toLocaleString() : 'never'}
                  </span>
                  {Object.entries(host.labels).map(([k, v]) => (
                    <button
                      key={k}
                      type="button"
                      title="Filter by this label"
                      onClick={() => {
                        setLabels(`${k}=${v}`);
                        setPage(1);
                      }}
                      className="rounded bg-slate-100 px-1.5 text-xs dark:bg-slate-800"
                    >
                      {k}={v}
                    </button>
                  ))}
                </div>
                {host.containers.length ? (
                  <table className="mt-3 w-full border-collapse text-left text-sm">
                    <thead>
                      <tr className="border-b border-slate-200 text-slate-500 dark:border-slate-700">
                        <th className="py-1">Container</th>
                        <th className="py-1">Image</th>
                        <th className="py-1">Status</th>
                        <th className="py-1" />
                      </tr>
                    </thead>
                    <tbody>
                      {host.containers.map((c) => (
                        <Fragment key={c.id}>
                          <tr
                            className="border-b border-slate-100 dark:border-slate-800"
                            data-testid={`container-${c.name}`}
                          >
                            <td className="py-1 font-mono">{c.name}</td>
                            <td className="py-1">{c.image}</td>
                            <td className="py-1">{c.status}</td>
                            <td className="flex items-center gap-2 py-1">
                              {host.online ? (
                                <button
                                  type="button"
                                  onClick={() => setLogsOf(logsOf === c.id ? null : c.id)}
                                  className={buttonClass}
                                >
                                  {logsOf === c.id ? 'Hide logs' : 'Logs'}
                                </button>
                              ) : null}
                              <ContainerActions
                                teamId={team.teamId}
                                hostId={host.id}
                                containerId={c.id}
                                state={c.state}
                                online={host.online}
                                canOperate={canOperate}
                                onDone={() => void hosts.refetch()}
                              />
                            </td>
                          </tr>
                          {logsOf === c.id ? (
                            <tr>
                              <td colSpan={4}>
                                <LogsPanel teamId={team.teamId} hostId={host.id} containerId={c.id} />
                              </td>
                            </tr>
                          ) : null}
                        </Fragment>
                      ))}
                    </tbody>
                  </table>
                ) : (
                  <p className="mt-2 text-sm text-slate-500">No containers.</p>
                )}
                {host.containerCount > host.containers.length ? (
                  <p className="mt-2 text-sm">
                    <Link href={`/hosts/${host.id}`} className="underline">
                      All {host.containerCount} containers of {host.name}
                    </Link>
                  </p>
                ) : null}
                {canOperate && host.online ? (
                  <DeployForm teamId={team.teamId} hostId={host.id} onDone={() => void hosts.refetch()} />
                ) : null}
              </li>
            ))}
          </ul>
          {hosts.data ? (
            <Pager page={page} pageSize={hosts.data.pageSize} total={hosts.data.total} onPage={setPage} />
          ) : null}
        </>
      ) : filtered ? (
        <p className="mt-6" data-testid="hosts-no-match">
          No host matches these filters.
        </p>
      ) : (
        <div
          className="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center dark:border-slate-700 dark:bg-slate-900"
          data-testid="hosts-empty"
        >
          <h2 className="font-medium">No hosts yet</h2>
          <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">
            A host joins when its Berth agent enrols with this control plane.
            {isAdmin
              ? ' Use “Add a host” above for the command to run on it.'
              : ' Ask an admin of your team to add one.'}
          </p>
        </div>
      )}
    </section>
  );
}
