'use client';

import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { useTRPC } from '../../../lib/trpc';
import {
  Badge,
  buttonClass,
  HealthBadge,
  inputClass,
  Pager,
  SortHeader,
  Stale,
  useDebounced,
  useToast,
} from '../fleet-ui';
import { logsHref } from '../logs/log-viewer';
import { placeholderTeam, useCurrentTeam } from '../team-context';
import { type Action, actionLabels, actionsFor } from './actions';

type Sort = 'name' | 'image' | 'state' | 'host' | 'created';
const states = ['running', 'paused', 'restarting', 'created', 'exited', 'dead'] as const;

const key = (r: { hostId: string; containerId: string }) => `${r.hostId}/${r.containerId}`;

/** The fleet's containers; with `hostId`, one host's (its page embeds this). */
export function ContainersView({ hostId }: { hostId?: string } = {}) {
  const trpc = useTRPC();
  const toast = useToast();
  const { me, team, canOperate } = useCurrentTeam();
  const [search, setSearch] = useState('');
  const [labels, setLabels] = useState('');
  const [state, setState] = useState<(typeof states)[number] | ''>('');
  const [sort, setSort] = useState<{ column: Sort; direction: 'asc' | 'desc' }>({
    column: 'name',
    direction: 'asc',
  });
  const [page, setPage] = useState(1);
  const [selected, setSelected] = useState<Map<string, { hostId: string; containerId: string }>>(new Map());
  const query = {
    teamId: team?.teamId ?? placeholderTeam,
    search: useDebounced(search),
    labels: useDebounced(labels)
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean),
    states: state ? [state] : [],
    ...(hostId ? { hostId } : {}),
    sort: sort.column,
    direction: sort.direction,
    page,
    pageSize: 50,
  };
  const list = useQuery({
    ...trpc.containers.list.queryOptions(query),
    enabled: Boolean(team),
    placeholderData: keepPreviousData,
    refetchInterval: 2000,
  });
  const single = useMutation(
    trpc.containers.action.mutationOptions({
      onSuccess: (_data, input) => toast(`${actionLabels[input.action]}: done`),
      onError: (error) => toast(error.message, 'error'),
      onSettled: () => void list.refetch(),
    }),
  );
  const bulk = useMutation(
    trpc.containers.bulk.mutationOptions({
      onSuccess: (results, input) => {
        const failed = results.filter((r) => !r.ok);
        toast(
          failed.length
            ? `${actionLabels[input.action]}: ${results.length - failed.length} done, ${failed.length} failed (${failed[0]?.error})`
            : `${actionLabels[input.action]}: ${results.length} done`,
          failed.length ? 'error' : 'ok',
        );
        setSelected(new Map());
      },
      onError: (error) => toast(error.message, 'error'),
      onSettled: () => void list.refetch(),
    }),
  );

  if (me.isPending) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  const rows = list.data?.rows ?? [];
  const filtered = Boolean(query.search || query.labels.length || state);
  const reset =
    <T,>(set: (v: T) => void) =>
    (v: T) => {
      set(v);
      setPage(1);
    };
  const act = (action: Action) => {
    if (
      action === 'remove' &&
      !window.confirm(`Remove ${selected.size} container(s)? Running ones are stopped first.`)
    )
      return;
    bulk.mutate({ teamId: team.teamId, action, targets: [...selected.values()] });
  };
  const pageKeys = rows.filter((r) => !r.stale).map(key);
  const allSelected = pageKeys.length > 0 && pageKeys.every((k) => selected.has(k));

  return (
    <section>
      {hostId ? (
        <h2 className="text-lg font-semibold">Containers</h2>
      ) : (
        <>
          <h1 className="text-2xl font-semibold">Containers</h1>
          <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
            Every container on the hosts of {team.teamName}, as each host last reported.
          </p>
        </>
      )}
      <div className="mt-4 flex flex-wrap items-end gap-3">
        <label className="text-sm">
          Search
          <input
            type="search"
            value={search}
            onChange={(e) => reset(setSearch)(e.target.value)}
            placeholder="name, image or host"
            className={`mt-1 block w-64 ${inputClass}`}
          />
        </label>
        <label className="text-sm">
          Labels
          <input
            value={labels}
            onChange={(e) => reset(setLabels)(e.target.value)}
            placeholder="app=web, tier"
            className={`mt-1 block w-56 ${inputClass}`}
          />
        </label>
        {query.labels.length > 0 ? (
          <Link href={logsHref({ labels: query.labels })} className={`self-end ${buttonClass}`}>
            Logs of these labels
          </Link>
        ) : null}
        <label className="text-sm">
          State
          <select
            value={state}
            onChange={(e) => reset(setState)(e.target.value as typeof state)}
            className={`mt-1 block ${inputClass}`}
          >
            <option value="">any</option>
            {states.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>

      {canOperate && selected.size > 0 ? (
        <div
          role="toolbar"
          aria-label="Actions on the selected containers"
          className="mt-4 flex flex-wrap items-center gap-2 rounded border border-sky-200 bg-sky-50 p-2 text-sm dark:border-sky-800 dark:bg-sky-950"
        >
          <span data-testid="selection-count">{selected.size} selected</span>
          <Link href={logsHref({ targets: [...selected.values()].slice(0, 20) })} className={buttonClass}>
            Logs of selected
          </Link>
          {(Object.keys(actionLabels) as Action[]).map((a) => (
            <button
              key={a}
              type="button"
              disabled={bulk.isPending}
              onClick={() => act(a)}
              className={buttonClass}
            >
              {actionLabels[a]}
            </button>
          ))}
          <button type="button" onClick={() => setSelected(new Map())} className="ml-auto text-xs underline">
            Clear selection
          </button>
        </div>
      ) : null}

      {list.error ? (
        <p role="alert" className="mt-4 text-red-700">
          Could not load containers: {list.error.message}
        </p>
      ) : null}

      {list.data && list.data.total === 0 ? (
        <div
          className="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center dark:border-slate-700 dark:bg-slate-900"
          data-testid="containers-empty"
        >
          {filtered ? (
            <p>No container matches these filters.</p>
          ) : (
            <>
              <h2 className="font-medium">No containers yet</h2>
              <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">
                Containers appear here once a host reports them. Add a host or deploy a container from the{' '}
                <Link href="/hosts" className="underline">
                  Hosts
                </Link>{' '}
                page.
              </p>
            </>
          )}
        </div>
      ) : (
        <div className="mt-4 overflow-x-auto">
          <table className="w-full border-collapse text-left text-sm">
            <thead>
              <tr className="border-b border-slate-200 text-slate-500 dark:border-slate-700 dark:text-slate-400">
                {canOperate ? (
                  <th className="w-8 py-2">
                    <input
                      type="checkbox"
                      aria-label="Select all on this page"
                      checked={allSelected}
                      onChange={() => {
                        const next = new Map(selected);
                        for (const r of rows.filter((r) => !r.stale))
                          if (allSelected) next.delete(key(r));
                          else next.set(key(r), { hostId: r.hostId, containerId: r.containerId });
                        setSelected(next);
                      }}
                    />
                  </th>
                ) : null}
                {(
                  [
                    ['Name', 'name'],
                    ['Image', 'image'],
                    ['State', 'state'],
                    ['Host', 'host'],
                    ['Created', 'created'],
                  ] as const
                ).map(([label, column]) => (
                  <SortHeader
                    key={column}
                    label={label}
                    column={column}
                    sort={sort.column}
                    direction={sort.direction}
                    onSort={(c, d) => reset(setSort)({ column: c, direction: d })}
                  />
                ))}
                <th className="py-2">Labels</th>
                {canOperate ? <th className="py-2">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr
                  key={key(r)}
                  className="border-b border-slate-100 dark:border-slate-800"
                  data-testid={`fleet-container-${r.name}`}
                >
                  {canOperate ? (
                    <td className="py-1.5">
                      <input
                        type="checkbox"
                        aria-label={`Select ${r.name} on ${r.hostName}`}
                        disabled={r.stale}
                        checked={selected.has(key(r))}
                        onChange={() => {
                          const next = new Map(selected);
                          if (next.has(key(r))) next.delete(key(r));
                          else next.set(key(r), { hostId: r.hostId, containerId: r.containerId });
                          setSelected(next);
                        }}
                      />
                    </td>
                  ) : null}
                  <td className="py-1.5 pr-3 font-mono">
                    <Link
                      href={`/containers/${r.hostId}/${r.containerId}`}
                      className="hover:underline"
                      data-testid="container-link"
                    >
                      {r.name}
                    </Link>
                    {r.stale ? <Stale lastSeenAt={r.lastSeenAt} /> : null}
                    <Link
                      href={logsHref({ targets: [r] })}
                      className="ml-2 font-sans text-xs text-sky-700 hover:underline dark:text-sky-300"
                      aria-label={`Logs of ${r.name}`}
                    >
                      Logs
                    </Link>
                  </td>
                  <td className="max-w-56 truncate py-1.5 pr-3" title={r.image}>
                    {r.image}
                  </td>
                  <td className="py-1.5 pr-3" title={r.status}>
                    <Badge value={r.state} testId="container-state" />
                    <HealthBadge status={r.status} />
                  </td>
                  <td className="py-1.5 pr-3">
                    <Link href={`/hosts/${r.hostId}`} className="hover:underline">
                      {r.hostName}
                    </Link>
                  </td>
                  <td className="py-1.5 pr-3 whitespace-nowrap">
                    {new Date(r.created * 1000).toLocaleString()}
                  </td>
                  <td className="max-w-64 py-1.5 pr-3 text-xs text-slate-500 dark:text-slate-400">
                    {Object.entries(r.labels)
                      .slice(0, 4)
                      .map(([k, v]) => (
                        <button
                          key={k}
                          type="button"
                          title="Filter by this label"
                          onClick={() => reset(setLabels)(`${k}=${v}`)}
                          className="mr-1 mb-0.5 inline-block max-w-48 truncate rounded bg-slate-100 px-1 dark:bg-slate-800"
                        >
                          {k}={v}
                        </button>
                      ))}
                  </td>
                  {canOperate ? (
                    <td className="py-1.5">
                      {r.stale ? null : (
                        <span className="flex flex-wrap gap-1">
                          {actionsFor(r.state).map((a) => (
                            <button
                              key={a}
                              type="button"
                              disabled={single.isPending}
                              className={buttonClass}
                              onClick={() => {
                                if (
                                  a === 'remove' &&
                                  !window.confirm(`Remove ${r.name}? It is stopped first.`)
                                )
                                  return;
                                single.mutate({
                                  teamId: team.teamId,
                                  hostId: r.hostId,
                                  containerId: r.containerId,
                                  action: a,
                                });
                              }}
                            >
                              {actionLabels[a]}
                            </button>
                          ))}
                          {r.state === 'running' ? (
                            <Link
                              href={`/console?${new URLSearchParams({ hostId: r.hostId, containerId: r.containerId, name: r.name })}`}
                              className={buttonClass}
                            >
                              Console
                            </Link>
                          ) : null}
                        </span>
                      )}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
          {list.data ? (
            <Pager page={page} pageSize={list.data.pageSize} total={list.data.total} onPage={setPage} />
          ) : (
            <p className="mt-3 text-slate-500">Loading…</p>
          )}
        </div>
      )}
    </section>
  );
}
