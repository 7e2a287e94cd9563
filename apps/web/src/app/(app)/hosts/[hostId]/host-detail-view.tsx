'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { formatBytes } from '../../../../lib/format';
import { useTRPC } from '../../../../lib/trpc';
import { ContainersView } from '../../containers/containers-view';
import { Badge, buttonClass, inputClass, useToast } from '../../fleet-ui';
import { ImagesView } from '../../images/images-view';
import { placeholderTeam, useCurrentTeam } from '../../team-context';
import { DeployForm } from '../host-parts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Labels as typed in the form: one `key=value` per line. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    const at = trimmed.indexOf('=');
    if (at < 0) labels[trimmed] = '';
    else labels[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1).trim();
  }
  return labels;
}

function AdminPanel(props: {
  teamId: string;
  hostId: string;
  name: string;
  labels: Record<string, string>;
  revoked: boolean;
  onDone: () => void;
}) {
  const trpc = useTRPC();
  const toast = useToast();
  const [name, setName] = useState(props.name);
  const [labels, setLabels] = useState(
    Object.entries(props.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  );
  const options = (done: string) => ({
    onSuccess: () => {
      toast(done);
      props.onDone();
    },
    onError: (error: { message: string }) => toast(error.message, 'error'),
  });
  const rename = useMutation(trpc.hosts.rename.mutationOptions(options('Host renamed')));
  const setHostLabels = useMutation(trpc.hosts.setLabels.mutationOptions(options('Labels saved')));
  const revoke = useMutation(trpc.hosts.revoke.mutationOptions(options('Host revoked')));
  return (
    <div className="mt-6 grid gap-4 rounded-lg border border-slate-200 bg-white p-4 md:grid-cols-3 dark:border-slate-800 dark:bg-slate-900">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          rename.mutate({ teamId: props.teamId, hostId: props.hostId, name });
        }}
        data-testid="rename-form"
      >
        <label className="block text-sm">
          Name
          <input
            name="name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            className={`mt-1 block w-full ${inputClass}`}
          />
        </label>
        <button type="submit" disabled={rename.isPending} className={`mt-2 ${buttonClass}`}>
          Rename
        </button>
        {rename.error ? (
          <p role="alert" className="mt-1 text-xs text-red-700">
            {rename.error.message}
          </p>
        ) : null}
      </form>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setHostLabels.mutate({ teamId: props.teamId, hostId: props.hostId, labels: parseLabels(labels) });
        }}
        data-testid="labels-form"
      >
        <label className="block text-sm">
          Labels (key=value, one per line)
          <textarea
            name="labels"
            rows={3}
            value={labels}
            onChange={(e) => setLabels(e.target.value)}
            className={`mt-1 block w-full font-mono ${inputClass}`}
          />
        </label>
        <button type="submit" disabled={setHostLabels.isPending} className={`mt-2 ${buttonClass}`}>
          Save labels
        </button>
        {setHostLabels.error ? (
          <p role="alert" className="mt-1 text-xs text-red-700">
            {setHostLabels.error.message}
          </p>
        ) : null}
      </form>
      <div>
        <p className="text-sm">Revoke</p>
        <p className="mt-1 text-xs text-slate-600 dark:text-slate-400">
          Closes the agent&apos;s connection and refuses it from then on. Its containers keep running on the
          host; enrol it again with a new token to manage it.
        </p>
        <button
          type="button"
          disabled={props.revoked || revoke.isPending}
          onClick={() => {
            if (window.confirm(`Revoke ${props.name}? Its agent will be refused from now on.`))
              revoke.mutate({ teamId: props.teamId, hostId: props.hostId });
          }}
          className="mt-2 rounded border border-red-300 px-2 py-0.5 text-xs text-red-800 hover:bg-red-50 disabled:opacity-50 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950"
        >
          {props.revoked ? 'Revoked' : 'Revoke host'}
        </button>
      </div>
    </div>
  );
}

export function HostDetailView({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const { me, team, canOperate, isAdmin } = useCurrentTeam();
  const valid = uuid.test(hostId);
  const host = useQuery({
    ...trpc.hosts.get.queryOptions({
      teamId: team?.teamId ?? placeholderTeam,
      hostId: valid ? hostId : placeholderTeam,
    }),
    enabled: Boolean(team) && valid,
    refetchInterval: 3000,
    retry: false,
  });
  if (me.isPending || (team && valid && host.isPending)) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  if (!valid || host.error)
    return (
      <p role="alert">
        {host.error?.data?.code === 'NOT_FOUND' || !valid
          ? 'No such host in this team.'
          : host.error?.message}{' '}
        <Link href="/hosts" className="underline">
          Back to hosts
        </Link>
      </p>
    );
  const h = host.data;
  if (!h) return null;
  const facts = h.facts;
  return (
    <section>
      <p className="text-sm">
        <Link href="/hosts" className="underline">
          Hosts
        </Link>{' '}
        /
      </p>
      <div className="mt-1 flex flex-wrap items-center gap-3">
        <h1 className="text-2xl font-semibold" data-testid="host-name">
          {h.name}
        </h1>
        <Badge value={h.status} testId="host-status" />
        {h.status === 'offline' ? (
          <span className="text-sm text-amber-800 dark:text-amber-300" data-testid="host-stale">
            Offline since {h.lastSeenAt ? new Date(h.lastSeenAt).toLocaleString() : 'never'}: what follows is
            what it last reported.
          </span>
        ) : null}
        {Object.entries(h.labels).map(([k, v]) => (
          <span
            key={k}
            className="rounded bg-slate-100 px-1.5 text-xs dark:bg-slate-800"
            data-testid="host-label"
          >
            {k}={v}
          </span>
        ))}
      </div>
      <dl className="mt-4 grid grid-cols-2 gap-x-6 gap-y-1 text-sm md:grid-cols-4" data-testid="host-facts">
        {(
          [
            ['OS', facts?.os],
            ['Kernel', facts?.kernel],
            ['Architecture', facts?.arch],
            ['CPUs', facts?.cpus],
            ['Memory', facts ? formatBytes(facts.memoryBytes) : undefined],
            ['Hostname', facts?.hostname],
            ['Agent', h.agentVersion],
            [
              'Runtimes',
              facts
                ? Object.entries(facts.runtimes)
                    .map(([k, v]) => `${k} ${v}`)
                    .join(', ')
                : undefined,
            ],
            [
              'Containers',
              `${h.containerCount} (${
                Object.entries(h.states)
                  .map(([s, n]) => `${n} ${s}`)
                  .join(', ') || 'none'
              })`,
            ],
            ['Images', h.images],
            ['Volumes', h.volumes],
            ['Networks', h.networks],
            ['Last seen', h.lastSeenAt ? new Date(h.lastSeenAt).toLocaleString() : 'never'],
            ['Added', new Date(h.createdAt).toLocaleString()],
          ] as const
        ).map(([label, value]) => (
          <div key={label}>
            <dt className="text-slate-500 dark:text-slate-400">{label}</dt>
            <dd>{value ?? '—'}</dd>
          </div>
        ))}
      </dl>
      {isAdmin ? (
        <AdminPanel
          key={`${h.name}|${JSON.stringify(h.labels)}`}
          teamId={team.teamId}
          hostId={h.id}
          name={h.name}
          labels={h.labels}
          revoked={h.status === 'revoked'}
          onDone={() => void host.refetch()}
        />
      ) : null}
      {h.status === 'revoked' ? (
        <p className="mt-6 text-sm" data-testid="host-revoked">
          This host was revoked on {h.revokedAt ? new Date(h.revokedAt).toLocaleString() : ''}; its agent is
          refused.
        </p>
      ) : (
        <>
          {canOperate && h.online ? (
            <DeployForm teamId={team.teamId} hostId={h.id} onDone={() => void host.refetch()} />
          ) : null}
          <div className="mt-8">
            <ContainersView hostId={h.id} />
          </div>
          <div className="mt-8">
            <ImagesView hostId={h.id} />
          </div>
        </>
      )}
    </section>
  );
}
