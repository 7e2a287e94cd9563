'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import { asHealth } from '../../../../../lib/health';
import { useTRPC } from '../../../../../lib/trpc';
import { ConsoleView } from '../../../console/console-view';
import { Badge, buttonClass, HealthBadge, useToast } from '../../../fleet-ui';
import { ContainerActions } from '../../../hosts/host-parts';
import { LogViewer, logsHref } from '../../../logs/log-viewer';
import { placeholderTeam, useCurrentTeam } from '../../../team-context';
import { InspectSections } from './inspect-sections';
import { UsagePanel } from './usage-panel';

type Tab = 'overview' | 'logs' | 'console' | 'raw';

const historyLabels: Record<string, string> = {
  create: 'created',
  start: 'started',
  restart: 'restarted',
  die: 'died',
  oom: 'out of memory',
  stop: 'stopped',
  pause: 'paused',
  unpause: 'unpaused',
  rename: 'renamed',
};

function StateHistory(props: { teamId: string; hostId: string; containerId: string }) {
  const trpc = useTRPC();
  const history = useQuery({
    ...trpc.containers.history.queryOptions({
      teamId: props.teamId,
      hostId: props.hostId,
      containerId: props.containerId,
    }),
    refetchInterval: 3000,
  });
  return (
    <section
      data-testid="state-history"
      className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-700 dark:bg-slate-900"
    >
      <h3 className="font-medium">State history</h3>
      {history.error ? (
        <p role="alert" className="mt-2 text-sm text-red-700">
          {history.error.message}
        </p>
      ) : !history.data ? (
        <p className="mt-2 text-sm text-slate-500">Loading…</p>
      ) : history.data.length === 0 ? (
        <p className="mt-2 text-sm text-slate-500">
          No transitions recorded yet: they are recorded from the agent&apos;s events as they happen.
        </p>
      ) : (
        <table className="mt-2 w-full text-left text-sm">
          <thead className="text-slate-500 dark:text-slate-400">
            <tr>
              <th className="py-1 pr-3 font-normal">When</th>
              <th className="py-1 pr-3 font-normal">What</th>
              <th className="py-1 font-normal">Exit code</th>
            </tr>
          </thead>
          <tbody>
            {history.data.map((h) => (
              <tr
                key={h.id}
                data-testid="history-row"
                data-action={h.action}
                className="border-t border-slate-100 dark:border-slate-800"
              >
                <td className="py-1 pr-3 whitespace-nowrap">{new Date(h.time).toLocaleString()}</td>
                <td className="py-1 pr-3">
                  {historyLabels[h.action] ?? h.action}
                  {h.action === 'rename' ? ` to ${h.name}` : ''}
                </td>
                <td className="py-1 font-mono" data-testid="history-exit-code">
                  {h.exitCode ?? ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/**
 * Recreate (Portainer's): the same settings on a new container, after pulling the image's tag again when asked.
 * The page follows the operation's progress and moves to the new container when it is done.
 */
function RecreatePanel(props: { teamId: string; hostId: string; containerId: string; image: string }) {
  const trpc = useTRPC();
  const toast = useToast();
  const router = useRouter();
  const [pull, setPull] = useState(true);
  const [operationId, setOperationId] = useState<string | null>(null);
  const start = useMutation(
    trpc.containers.recreate.mutationOptions({
      onSuccess: ({ operationId }) => setOperationId(operationId),
      onError: (error) => toast(error.message, 'error'),
    }),
  );
  const status = useQuery({
    ...trpc.containers.recreateStatus.queryOptions({
      teamId: props.teamId,
      operationId: operationId ?? placeholderTeam,
    }),
    enabled: operationId !== null,
    refetchInterval: (query) => (query.state.data?.state === 'running' || !query.state.data ? 1000 : false),
  });
  const state = status.data?.state;
  const result = status.data?.result;
  const running = start.isPending || (operationId !== null && (!state || state === 'running'));
  useEffect(() => {
    if (!result || state !== 'succeeded') return;
    // The new container is the page now.
    setOperationId(null);
    toast(
      result.warnings.length ? `Recreated, with a warning: ${result.warnings[0]}` : 'Recreated',
      result.warnings.length ? 'error' : 'ok',
    );
    router.replace(`/containers/${props.hostId}/${result.id}`);
  }, [result, state, toast, router, props.hostId]);
  return (
    <div className="flex flex-wrap items-center gap-2" data-testid="recreate-panel">
      <label
        className="flex items-center gap-1 text-xs"
        title={`Pull ${props.image} again before recreating`}
      >
        <input
          type="checkbox"
          checked={pull}
          onChange={(e) => setPull(e.target.checked)}
          data-testid="recreate-pull"
        />
        Pull latest image
      </label>
      <button
        type="button"
        className={buttonClass}
        disabled={running}
        data-testid="recreate-button"
        onClick={() => {
          const what = pull ? `pull ${props.image} and recreate` : 'recreate';
          if (!window.confirm(`Stop this container, ${what} it with the same settings?`)) return;
          start.mutate({ teamId: props.teamId, hostId: props.hostId, containerId: props.containerId, pull });
        }}
      >
        {running ? 'Recreating…' : 'Recreate'}
      </button>
      {operationId && status.data ? (
        <span className="text-xs text-slate-600 dark:text-slate-300" data-testid="recreate-progress">
          {status.data.progress?.status ?? 'Starting'}
          {status.data.progress?.layers.length
            ? ` · ${status.data.progress.layers.filter((l) => /complete|exists/i.test(l.status)).length}/${status.data.progress.layers.length} layers`
            : ''}
        </span>
      ) : null}
      {state === 'failed' || state === 'timed_out' ? (
        <span role="alert" className="text-xs text-red-700" data-testid="recreate-error">
          {status.data?.error ?? 'The recreate did not finish.'}
        </span>
      ) : null}
    </div>
  );
}

export function ContainerDetailView(props: { hostId: string; containerId: string }) {
  const trpc = useTRPC();
  const { me, team, canOperate } = useCurrentTeam();
  const [tab, setTab] = useState<Tab>('overview');
  const teamId = team?.teamId ?? placeholderTeam;
  const detail = useQuery({
    ...trpc.containers.get.queryOptions({ teamId, hostId: props.hostId, containerId: props.containerId }),
    enabled: Boolean(team),
    refetchInterval: 3000,
    retry: false,
  });

  if (me.isPending) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  if (detail.error)
    return (
      <section>
        <h1 className="text-2xl font-semibold">Container</h1>
        <p role="alert" className="mt-3 text-red-700">
          {detail.error.data?.code === 'NOT_FOUND'
            ? 'No such container on this host: it may have been removed or recreated.'
            : `Could not load the container: ${detail.error.message}`}
        </p>
        <Link href="/containers" className="mt-3 inline-block text-sm underline">
          Back to containers
        </Link>
      </section>
    );
  if (!detail.data) return <p className="text-slate-500">Loading…</p>;
  const { host, container, inspect, inspectError } = detail.data;
  const name = inspect?.Name.replace(/^\//, '') ?? container?.name ?? props.containerId.slice(0, 12);
  const state = inspect?.State.Status ?? container?.state ?? 'unknown';
  const image = inspect?.Config.Image ?? container?.image ?? '';
  const live = host.online && inspect !== null;
  const tabs: Array<[Tab, string]> = [
    ['overview', 'Overview'],
    ['logs', 'Logs'],
    ...(canOperate ? [['console', 'Console'] as [Tab, string]] : []),
    ['raw', 'Inspect (JSON)'],
  ];

  return (
    <section>
      <nav className="text-sm text-slate-500">
        <Link href="/containers" className="hover:underline">
          Containers
        </Link>{' '}
        /{' '}
        <Link href={`/hosts/${host.id}`} className="hover:underline" data-testid="container-host">
          {host.name}
        </Link>
      </nav>
      <div className="mt-1 flex flex-wrap items-baseline gap-3">
        <h1 className="font-mono text-2xl font-semibold" data-testid="container-name">
          {name}
        </h1>
        <Badge value={state} testId="container-state" />
        <HealthBadge
          status={container?.status}
          health={inspect?.State.Running ? asHealth(inspect.State.Health?.Status) : undefined}
        />
        <span
          className="font-mono text-xs text-slate-500"
          data-testid="container-id"
          title={props.containerId}
        >
          {props.containerId.slice(0, 12)}
        </span>
      </div>
      <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
        <span className="font-mono">{image}</span>
        {container ? ` · ${container.status}` : ''}
      </p>
      {inspectError ? (
        <p
          role="status"
          className="mt-2 text-sm text-amber-700 dark:text-amber-300"
          data-testid="inspect-error"
        >
          {host.online ? inspectError : 'The host is offline: this is what it last reported.'}
        </p>
      ) : null}

      {canOperate && live ? (
        <div className="mt-3 flex flex-wrap items-center gap-4" data-testid="container-actions">
          <ContainerActions
            teamId={team.teamId}
            hostId={host.id}
            containerId={props.containerId}
            state={state}
            online={host.online}
            canOperate={canOperate}
            // A removed container's next read is "not found", which the page says with a way back.
            onDone={() => void detail.refetch()}
          />
          <RecreatePanel
            teamId={team.teamId}
            hostId={host.id}
            containerId={props.containerId}
            image={image}
          />
        </div>
      ) : null}

      <div role="tablist" className="mt-4 flex gap-1 border-b border-slate-200 dark:border-slate-700">
        {tabs.map(([id, label]) => (
          <button
            key={id}
            type="button"
            role="tab"
            aria-selected={tab === id}
            onClick={() => setTab(id)}
            className={`-mb-px border-b-2 px-3 py-1.5 text-sm ${
              tab === id
                ? 'border-sky-700 font-medium text-sky-800 dark:text-sky-300'
                : 'border-transparent text-slate-600 hover:text-slate-900 dark:text-slate-400'
            }`}
          >
            {label}
          </button>
        ))}
      </div>

      <div className="mt-4 space-y-4">
        {tab === 'overview' ? (
          <>
            <UsagePanel
              teamId={team.teamId}
              hostId={host.id}
              containerId={props.containerId}
              running={live && state === 'running'}
            />
            {inspect ? <InspectSections inspect={inspect} /> : null}
            <StateHistory teamId={team.teamId} hostId={host.id} containerId={props.containerId} />
          </>
        ) : null}
        {tab === 'logs' ? (
          <div data-testid="container-logs">
            <Link
              href={logsHref({ targets: [{ hostId: host.id, containerId: props.containerId }] })}
              className="text-sm underline"
            >
              Open in the log viewer
            </Link>
            <div className="mt-2">
              <LogViewer
                teamId={team.teamId}
                targets={[{ hostId: host.id, containerId: props.containerId }]}
                height="28rem"
                downloadName={name}
              />
            </div>
          </div>
        ) : null}
        {tab === 'console' && canOperate ? (
          state === 'running' && host.online ? (
            <ConsoleView hostId={host.id} containerId={props.containerId} name={name} embedded />
          ) : (
            <p className="text-sm text-slate-500">
              A console needs the container running and its host online.
            </p>
          )
        ) : null}
        {tab === 'raw' ? (
          inspect ? (
            <pre
              data-testid="inspect-raw"
              className="max-h-[40rem] overflow-auto rounded bg-slate-900 p-3 font-mono text-xs text-slate-100"
            >
              {JSON.stringify(inspect, null, 2)}
            </pre>
          ) : (
            <p className="text-sm text-slate-500">The agent could not answer: no inspect data.</p>
          )
        ) : null}
      </div>
    </section>
  );
}
