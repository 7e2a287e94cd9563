'use client';

import type { ReactNode } from 'react';
import { formatBinaryBytes } from '../../../../../lib/format';
import type { ContainerInspect } from '../../../../../server/containers/detail-schemas';

function Section(props: { title: string; testId: string; children: ReactNode }) {
  return (
    <section
      data-testid={props.testId}
      className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-700 dark:bg-slate-900"
    >
      <h3 className="font-medium">{props.title}</h3>
      <div className="mt-2 text-sm">{props.children}</div>
    </section>
  );
}

function Pairs({ rows }: { rows: Array<[string, ReactNode]> }) {
  return (
    <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1">
      {rows.map(([label, value]) => (
        <div key={label} className="contents">
          <dt className="text-slate-500 dark:text-slate-400">{label}</dt>
          <dd className="min-w-0 break-all font-mono text-xs leading-5">{value}</dd>
        </div>
      ))}
    </dl>
  );
}

const none = <span className="text-slate-400">none</span>;

/** Docker's zero time stands for "never". */
function when(iso: string): string {
  if (!iso || iso.startsWith('0001-')) return 'never';
  return new Date(iso).toLocaleString();
}

function bytes(n: number | undefined): string {
  return n ? formatBinaryBytes(n) : 'unlimited';
}

/** An argv as a shell would take it back: arguments with spaces or quotes quoted. */
function argv(list: string[] | null | undefined): string {
  if (!list?.length) return '';
  return list.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

function KeyValues({ entries, testId }: { entries: Array<[string, string]>; testId: string }) {
  if (!entries.length) return none;
  return (
    <table className="w-full table-fixed text-left font-mono text-xs" data-testid={testId}>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k} className="border-b border-slate-100 align-top last:border-0 dark:border-slate-800">
            <td className="w-1/3 break-all py-1 pr-3 text-slate-600 dark:text-slate-300">{k}</td>
            <td className="break-all py-1">{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A healthcheck's test as the Dockerfile would say it: `CMD-SHELL x` as `x`, `CMD a b` as the argv. */
function healthTest(test: string[] | null | undefined): string {
  if (!test?.length || test[0] === 'NONE') return '';
  return test[0] === 'CMD-SHELL' ? test.slice(1).join(' ') : argv(test.slice(1));
}

/** The inspect data as readable sections, in the order an operator looks for things. */
export function InspectSections({ inspect }: { inspect: ContainerInspect }) {
  const { State: state, Config: config, HostConfig: host } = inspect;
  const env = config.Env.map((e): [string, string] => {
    const at = e.indexOf('=');
    return at < 0 ? [e, ''] : [e.slice(0, at), e.slice(at + 1)];
  });
  const ports = Object.entries(inspect.NetworkSettings.Ports ?? host.PortBindings ?? {});
  const networks = Object.entries(inspect.NetworkSettings.Networks);
  const policy = host.RestartPolicy;
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <Section title="State" testId="inspect-state">
        <Pairs
          rows={[
            [
              'Status',
              <span key="s" data-testid="inspect-status">
                {state.Status}
              </span>,
            ],
            ['Started', when(state.StartedAt)],
            ['Finished', when(state.FinishedAt)],
            ['Exit code', String(state.ExitCode)],
            ['PID', state.Pid ? String(state.Pid) : '—'],
            ['Restarts', String(inspect.RestartCount)],
            ['OOM killed', state.OOMKilled ? 'yes' : 'no'],
            ...(state.Error ? [['Error', state.Error] as [string, ReactNode]] : []),
            ['Created', when(inspect.Created)],
          ]}
        />
      </Section>
      {state.Health || config.Healthcheck?.Test?.length ? (
        <Section title="Health" testId="inspect-health">
          <Pairs
            rows={[
              [
                'Status',
                <span key="h" data-testid="inspect-health-status">
                  {state.Health?.Status ?? 'not checked yet'}
                </span>,
              ],
              ['Check', healthTest(config.Healthcheck?.Test) || none],
              ['Failing streak', String(state.Health?.FailingStreak ?? 0)],
            ]}
          />
          {state.Health?.Log?.length ? (
            <table
              className="mt-2 w-full table-fixed text-left font-mono text-xs"
              data-testid="inspect-health-log"
            >
              <thead className="text-slate-500">
                <tr>
                  <th className="w-1/3 py-1 font-normal">Probe</th>
                  <th className="w-16 py-1 font-normal">Exit</th>
                  <th className="py-1 font-normal">Output</th>
                </tr>
              </thead>
              <tbody>
                {[...state.Health.Log].reverse().map((probe) => (
                  <tr key={probe.Start} className="border-t border-slate-100 align-top dark:border-slate-800">
                    <td className="py-1 pr-2">{when(probe.Start)}</td>
                    <td className="py-1 pr-2">{probe.ExitCode}</td>
                    <td className="whitespace-pre-wrap break-all py-1">{probe.Output.trim() || none}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </Section>
      ) : null}
      <Section title="Image and command" testId="inspect-image">
        <Pairs
          rows={[
            ['Image', config.Image],
            ['Image id', inspect.Image],
            ['Entrypoint', argv(config.Entrypoint) || none],
            ['Command', argv(config.Cmd) || none],
            ['Working dir', config.WorkingDir || '/'],
            ['User', config.User || 'root (image default)'],
            ['Hostname', config.Hostname ?? ''],
            ['TTY', config.Tty ? 'yes' : 'no'],
          ]}
        />
      </Section>
      <Section title="Environment" testId="inspect-env">
        <KeyValues entries={env} testId="inspect-env-table" />
      </Section>
      <Section title="Ports" testId="inspect-ports">
        {ports.length ? (
          <ul className="font-mono text-xs">
            {ports.map(([port, bindings]) => (
              <li key={port}>
                {bindings?.length
                  ? bindings.map((b) => `${b.HostIp || '0.0.0.0'}:${b.HostPort} → ${port}`).join(', ')
                  : `${port} (exposed, not published)`}
              </li>
            ))}
          </ul>
        ) : (
          none
        )}
      </Section>
      <Section title="Mounts" testId="inspect-mounts">
        {inspect.Mounts.length ? (
          <table className="w-full text-left font-mono text-xs">
            <thead className="text-slate-500">
              <tr>
                <th className="pr-2 font-normal">Type</th>
                <th className="pr-2 font-normal">Source</th>
                <th className="pr-2 font-normal">Destination</th>
                <th className="font-normal">Mode</th>
              </tr>
            </thead>
            <tbody>
              {inspect.Mounts.map((m) => (
                <tr key={m.Destination} className="align-top">
                  <td className="pr-2">{m.Type}</td>
                  <td className="break-all pr-2" title={m.Source}>
                    {m.Name ?? m.Source}
                  </td>
                  <td className="break-all pr-2">{m.Destination}</td>
                  <td>{m.RW ? 'rw' : 'ro'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          none
        )}
      </Section>
      <Section title="Networks" testId="inspect-networks">
        {networks.length ? (
          <ul className="space-y-1 font-mono text-xs">
            {networks.map(([name, n]) => (
              <li key={name}>
                <span className="font-semibold">{name}</span>
                {n.IPAddress ? ` ${n.IPAddress}/${n.IPPrefixLen ?? ''}` : ''}
                {n.Gateway ? ` via ${n.Gateway}` : ''}
                {n.MacAddress ? ` · ${n.MacAddress}` : ''}
                {n.Aliases?.length ? ` · aliases ${n.Aliases.join(', ')}` : ''}
              </li>
            ))}
          </ul>
        ) : (
          <span className="font-mono text-xs">{host.NetworkMode ?? none}</span>
        )}
      </Section>
      <Section title="Restart policy and limits" testId="inspect-limits">
        <Pairs
          rows={[
            [
              'Restart policy',
              <span key="p" data-testid="inspect-restart-policy">
                {policy?.Name || 'no'}
                {policy?.Name === 'on-failure' && policy.MaximumRetryCount
                  ? ` (at most ${policy.MaximumRetryCount} retries)`
                  : ''}
              </span>,
            ],
            ['Memory', bytes(host.Memory)],
            ['CPUs', host.NanoCpus ? String(host.NanoCpus / 1e9) : 'unlimited'],
            ['CPU shares', host.CpuShares ? String(host.CpuShares) : 'default'],
            ['PIDs', host.PidsLimit && host.PidsLimit > 0 ? String(host.PidsLimit) : 'unlimited'],
            ['Privileged', host.Privileged ? 'yes' : 'no'],
            ['Read-only root', host.ReadonlyRootfs ? 'yes' : 'no'],
            [
              'Capabilities',
              [...(host.CapAdd ?? []).map((c) => `+${c}`), ...(host.CapDrop ?? []).map((c) => `-${c}`)].join(
                ' ',
              ) || 'default',
            ],
            ['Remove on exit', host.AutoRemove ? 'yes' : 'no'],
          ]}
        />
      </Section>
      <Section title="Labels" testId="inspect-labels">
        <KeyValues
          entries={Object.entries(config.Labels).sort(([a], [b]) => a.localeCompare(b))}
          testId="inspect-labels-table"
        />
      </Section>
    </div>
  );
}
