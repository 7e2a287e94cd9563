'use client';

import Link from 'next/link';
import { useState } from 'react';
import { useCurrentTeam } from '../team-context';
import { type LogTarget, LogViewer } from './log-viewer';

export function LogsView(props: { targets: LogTarget[]; labels: string[]; tail: number }) {
  const { me, team } = useCurrentTeam();
  const [names, setNames] = useState<string[]>([]);
  const what =
    props.labels.length > 0
      ? `the containers labelled ${props.labels.join(', ')}`
      : names.length > 0
        ? names.join(', ')
        : props.targets.length > 1
          ? `${props.targets.length} containers`
          : 'one container';
  return (
    <section>
      <h1 className="text-xl font-semibold">Logs</h1>
      <p className="mt-1 text-sm text-slate-500">
        Live logs of {what}.{' '}
        <Link href="/containers" className="underline">
          Containers
        </Link>
      </p>
      {props.targets.length === 0 && props.labels.length === 0 ? (
        <p className="mt-4">
          Pick containers on the{' '}
          <Link href="/containers" className="underline">
            Containers
          </Link>{' '}
          page (Logs on a row, or Logs of the selected ones or of a label filter).
        </p>
      ) : team ? (
        <LogViewer
          teamId={team.teamId}
          targets={props.targets}
          labels={props.labels}
          tail={props.tail}
          onSources={(sources) => setNames(sources.map((s) => `${s.name} on ${s.hostName}`))}
        />
      ) : (
        <p className="mt-4 text-slate-500">{me.isLoading ? 'Loading…' : 'You are not in a team.'}</p>
      )}
    </section>
  );
}
