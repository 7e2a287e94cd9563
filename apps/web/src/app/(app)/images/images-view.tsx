'use client';

import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { formatBytes } from '../../../lib/format';
import { useTRPC } from '../../../lib/trpc';
import { buttonClass, inputClass, Pager, SortHeader, Stale, useDebounced, useToast } from '../fleet-ui';
import { placeholderTeam, useCurrentTeam } from '../team-context';
import { PullPanel } from './pull-panel';

type Sort = 'tag' | 'host' | 'size' | 'created';

/** Images across the team's hosts, one row per image and host (the same image on two hosts is two rows). */
export function ImagesView({ hostId }: { hostId?: string } = {}) {
  const trpc = useTRPC();
  const toast = useToast();
  const { me, team, canOperate } = useCurrentTeam();
  const [search, setSearch] = useState('');
  const [sort, setSort] = useState<{ column: Sort; direction: 'asc' | 'desc' }>({
    column: 'tag',
    direction: 'asc',
  });
  const [page, setPage] = useState(1);
  const list = useQuery({
    ...trpc.images.list.queryOptions({
      teamId: team?.teamId ?? placeholderTeam,
      search: useDebounced(search),
      ...(hostId ? { hostId } : {}),
      sort: sort.column,
      direction: sort.direction,
      page,
      pageSize: 50,
    }),
    enabled: Boolean(team),
    placeholderData: keepPreviousData,
    refetchInterval: 5000,
  });
  const remove = useMutation(
    trpc.images.remove.mutationOptions({
      onSuccess: () => toast('Image removed'),
      onError: (error) => toast(error.message, 'error'),
      onSettled: () => void list.refetch(),
    }),
  );
  if (me.isPending) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  const rows = list.data?.rows ?? [];
  return (
    <section>
      {hostId ? (
        <h2 className="text-lg font-semibold">Images</h2>
      ) : (
        <>
          <h1 className="text-2xl font-semibold">Images</h1>
          <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
            Images on the hosts of {team.teamName}, as each host last reported.
          </p>
          {canOperate ? (
            <>
              <Link href="/images/build" className={`mt-4 mr-2 inline-block ${buttonClass}`}>
                Build an image
              </Link>
              <PullPanel teamId={team.teamId} onDone={() => void list.refetch()} />
            </>
          ) : null}
        </>
      )}
      <label className="mt-4 block text-sm">
        Search
        <input
          type="search"
          value={search}
          onChange={(e) => {
            setSearch(e.target.value);
            setPage(1);
          }}
          placeholder="tag, id or host"
          className={`mt-1 block w-64 ${inputClass}`}
        />
      </label>
      {list.error ? (
        <p role="alert" className="mt-4 text-red-700">
          Could not load images: {list.error.message}
        </p>
      ) : null}
      {list.data && list.data.total === 0 ? (
        <div
          className="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center dark:border-slate-700 dark:bg-slate-900"
          data-testid="images-empty"
        >
          {search ? (
            <p>No image matches “{search}”.</p>
          ) : (
            <p className="text-sm text-slate-600 dark:text-slate-400">
              No images yet. Images appear when a host reports them; deploying a container from the{' '}
              <Link href="/hosts" className="underline">
                Hosts
              </Link>{' '}
              page pulls its image.
            </p>
          )}
        </div>
      ) : (
        <div className="mt-4 overflow-x-auto">
          <table className="w-full border-collapse text-left text-sm">
            <thead>
              <tr className="border-b border-slate-200 text-slate-500 dark:border-slate-700 dark:text-slate-400">
                {(
                  [
                    ['Tags', 'tag'],
                    ['Host', 'host'],
                    ['Size', 'size'],
                    ['Created', 'created'],
                  ] as const
                ).map(([label, column]) => (
                  <SortHeader
                    key={column}
                    label={label}
                    column={column}
                    sort={sort.column}
                    direction={sort.direction}
                    onSort={(c, d) => {
                      setSort({ column: c, direction: d });
                      setPage(1);
                    }}
                  />
                ))}
                <th className="py-2 pr-3">Id</th>
                <th className="py-2 pr-3">Containers</th>
                {canOperate ? <th className="py-2">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr
                  key={`${r.hostId}/${r.imageId}`}
                  className="border-b border-slate-100 dark:border-slate-800"
                  data-testid={`image-${r.repoTags[0] ?? r.imageId.slice(7, 19)}`}
                >
                  <td className="py-1.5 pr-3 font-mono">
                    {r.repoTags.length ? r.repoTags.join(', ') : '<none>'}
                    {r.stale ? <Stale lastSeenAt={null} /> : null}
                  </td>
                  <td className="py-1.5 pr-3">
                    <Link href={`/hosts/${r.hostId}`} className="hover:underline">
                      {r.hostName}
                    </Link>
                  </td>
                  <td className="py-1.5 pr-3">{formatBytes(r.size)}</td>
                  <td className="py-1.5 pr-3 whitespace-nowrap">
                    {new Date(r.created * 1000).toLocaleString()}
                  </td>
                  <td className="py-1.5 pr-3 font-mono text-xs" title={r.imageId}>
                    {r.imageId.slice(7, 19)}
                  </td>
                  <td className="py-1.5 pr-3">{r.containers}</td>
                  {canOperate ? (
                    <td className="py-1.5">
                      {r.stale ? null : (
                        <button
                          type="button"
                          className={buttonClass}
                          disabled={remove.isPending}
                          onClick={() => {
                            const force =
                              r.containers > 0 &&
                              window.confirm(
                                `${r.containers} container(s) on ${r.hostName} use this image. Remove it anyway (force)?`,
                              );
                            if (r.containers > 0 && !force) return;
                            if (
                              r.containers === 0 &&
                              !window.confirm(`Remove this image from ${r.hostName}?`)
                            )
                              return;
                            remove.mutate({
                              teamId: team.teamId,
                              hostId: r.hostId,
                              imageId: r.imageId,
                              force,
                            });
                          }}
                        >
                          Remove
                        </button>
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
