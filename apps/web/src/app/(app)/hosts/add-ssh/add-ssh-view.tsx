'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useRef, useState } from 'react';
import { useTRPC } from '../../../../lib/trpc';

const field = 'mt-1 block w-full rounded border border-slate-300 px-2 py-1 text-sm';

interface Probe {
  address: string;
  keyType: string;
  fingerprint: string;
  pinned: { fingerprint: string; matches: boolean } | null;
}

const statusMark: Record<string, string> = {
  pending: '○',
  running: '◌',
  ok: '✓',
  skipped: '–',
  failed: '✗',
};

function RunView({ teamId, runId }: { teamId: string; runId: string }) {
  const trpc = useTRPC();
  const run = useQuery({
    ...trpc.sshInstall.run.queryOptions({ teamId, id: runId }),
    // Follow the run live until it ends; the steps and their output are saved as they happen.
    refetchInterval: (query) => (query.state.data?.status === 'running' || !query.state.data ? 1000 : false),
  });
  if (!run.data) return <p className="mt-4 text-sm text-slate-500">Starting…</p>;
  const failed = run.data.steps.find((s) => s.status === 'failed');
  return (
    <div className="mt-6" data-testid="ssh-run" data-status={run.data.status}>
      <h2 className="text-lg font-semibold">
        {run.data.kind === 'uninstall' ? 'Uninstalling from' : 'Installing on'} {run.data.address}
      </h2>
      <ol className="mt-3 space-y-2">
        {run.data.steps.map((step) => (
          <li
            key={step.id}
            data-testid={`ssh-step-${step.id}`}
            data-status={step.status}
            className={`rounded border p-2 text-sm ${step.status === 'failed' ? 'border-red-300 bg-red-50' : 'border-slate-200 bg-white'}`}
          >
            <div className="flex items-center gap-2">
              <span aria-hidden className="w-4 text-center font-mono">
                {statusMark[step.status] ?? '?'}
              </span>
              <span className="font-medium">{step.title}</span>
              <span className="text-xs text-slate-500">{step.status}</span>
            </div>
            {step.output ? (
              <pre className="mt-1 max-h-64 overflow-auto whitespace-pre-wrap rounded bg-slate-900 p-2 text-xs text-slate-100">
                {step.output}
              </pre>
            ) : null}
            {step.hint ? (
              <p role="alert" className="mt-1 text-red-800">
                What to do: {step.hint}
              </p>
            ) : null}
          </li>
        ))}
      </ol>
      {run.data.status === 'succeeded' && run.data.kind === 'install' ? (
        <p className="mt-4 text-sm text-green-800" data-testid="ssh-run-done">
          The host is online.{' '}
          <Link href="/hosts" className="underline">
            See it on the Hosts page
          </Link>
          .
        </p>
      ) : null}
      {run.data.status === 'succeeded' && run.data.kind === 'uninstall' ? (
        <p className="mt-4 text-sm text-green-800" data-testid="ssh-run-done">
          The agent is stopped and its service removed.
        </p>
      ) : null}
      {run.data.status === 'failed' && failed ? (
        <p className="mt-4 text-sm text-red-800">
          Stopped at “{failed.title}”. Nothing is left half-configured on the host; fix the cause and run it
          again.
        </p>
      ) : null}
    </div>
  );
}

function OneLineCommand({ teamId }: { teamId: string }) {
  const trpc = useTRPC();
  const command = useMutation(trpc.sshInstall.oneLineCommand.mutationOptions());
  return (
    <section className="mt-10 max-w-3xl border-t border-slate-200 pt-6">
      <h2 className="text-lg font-semibold">Or install with one command</h2>
      <p className="mt-1 text-sm text-slate-600">
        For a host this control plane cannot reach over SSH: run the command as root on the host. It downloads
        the agent from here, checks its checksum and the host’s prerequisites, and enrols with a one-time
        token.
      </p>
      <button
        type="button"
        onClick={() => command.mutate({ teamId })}
        disabled={command.isPending}
        className="mt-3 rounded border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100 disabled:opacity-50"
      >
        Show a one-line install command
      </button>
      {command.error ? (
        <p role="alert" className="mt-2 text-sm text-red-700">
          {command.error.message}
        </p>
      ) : null}
      {command.data ? (
        <div className="mt-3 text-sm">
          <p>The token works once, until {new Date(command.data.expiresAt).toLocaleTimeString()}:</p>
          <pre
            className="mt-2 overflow-x-auto rounded bg-slate-900 p-3 text-slate-100"
            data-testid="one-line-command"
          >
            {command.data.command}
          </pre>
        </div>
      ) : null}
    </section>
  );
}

export function AddSshView() {
  const trpc = useTRPC();
  const me = useQuery(trpc.me.queryOptions());
  const team = me.data?.teams[0];
  const formRef = useRef<HTMLFormElement>(null);
  const [auth, setAuth] = useState<'key' | 'password'>('key');
  const [action, setAction] = useState<'install' | 'uninstall'>('install');
  const [probed, setProbed] = useState<Probe | null>(null);
  const [runId, setRunId] = useState<string | null>(null);
  const probe = useMutation(trpc.sshInstall.probe.mutationOptions({ onSuccess: (data) => setProbed(data) }));
  const forget = useMutation(trpc.sshInstall.forgetHostKey.mutationOptions());
  const install = useMutation(trpc.sshInstall.install.mutationOptions({ onSuccess: (d) => setRunId(d.id) }));
  const uninstall = useMutation(
    trpc.sshInstall.uninstall.mutationOptions({ onSuccess: (d) => setRunId(d.id) }),
  );
  if (me.isPending) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  if (team.role !== 'owner' && team.role !== 'admin')
    return <p>Adding hosts needs the admin role in {team.teamName}.</p>;
  const teamId = team.teamId;

  const values = () => {
    const form = new FormData(formRef.current ?? undefined);
    const text = (name: string) => String(form.get(name) ?? '');
    return {
      teamId,
      host: text('host').trim(),
      port: Number(text('port') || 22),
      username: text('username').trim(),
      ...(auth === 'key'
        ? { privateKey: text('privateKey'), passphrase: text('passphrase') || undefined }
        : { password: text('password') }),
      sudoPassword: text('sudoPassword') || undefined,
      allowPackages: form.get('allowPackages') === 'on',
      removeContainers: form.get('removeContainers') === 'on',
      // Empty fields keep the defaults (/opt/berth, /var/lib/berth, /run/berth/docker.sock).
      layout: {
        ...(text('prefix').trim() ? { prefix: text('prefix').trim() } : {}),
        ...(text('dataRoot').trim() ? { dataRoot: text('dataRoot').trim() } : {}),
        ...(text('dockerSocket').trim() ? { dockerSocket: text('dockerSocket').trim() } : {}),
      },
    };
  };

  const confirm = () => {
    if (!probed) return;
    const v = values();
    setRunId(null);
    if (action === 'install') {
      const { removeContainers: _ignored, ...rest } = v;
      install.mutate({ ...rest, fingerprint: probed.fingerprint });
    } else {
      const { allowPackages: _ignored, ...rest } = v;
      uninstall.mutate({ ...rest, fingerprint: probed.fingerprint });
    }
  };
  const startError = install.error ?? uninstall.error;

  return (
    <section>
      <p className="text-sm">
        <Link href="/hosts" className="text-sky-800 underline">
          Hosts
        </Link>{' '}
        /
      </p>
      <h1 className="text-2xl font-semibold">Add a host over SSH</h1>
      <p className="mt-1 max-w-3xl text-sm text-slate-600">
        Berth logs in once, checks the host, installs the agent and enrols it. The password, key and sudo
        password are used for this run only and are not stored. The host needs Node.js 20.19 or newer (Debian
        13, Ubuntu 24.04, or NodeSource); missing Debian packages are installed when you allow it.
      </p>
      <form
        ref={formRef}
        data-testid="ssh-form"
        className="mt-4 grid max-w-3xl grid-cols-3 gap-3"
        onSubmit={(event) => {
          event.preventDefault();
          const v = values();
          setProbed(null);
          setRunId(null);
          probe.mutate({ teamId, host: v.host, port: v.port });
        }}
        onChange={() => setProbed(null)}
      >
        <label className="col-span-2 text-sm">
          Address
          <input name="host" required placeholder="203.0.113.7 or host.example.com" className={field} />
        </label>
        <label className="text-sm">
          Port
          <input name="port" type="number" min={1} max={65535} defaultValue={22} className={field} />
        </label>
        <label className="text-sm">
          User
          <input name="username" required defaultValue="root" autoComplete="off" className={field} />
        </label>
        <fieldset className="col-span-2 text-sm">
          <legend>Log in with</legend>
          <label className="mr-4">
            <input type="radio" name="auth" checked={auth === 'key'} onChange={() => setAuth('key')} /> a
            private key
          </label>
          <label>
            <input
              type="radio"
              name="auth"
              checked={auth === 'password'}
              onChange={() => setAuth('password')}
            />{' '}
            a password
          </label>
        </fieldset>
        {auth === 'key' ? (
          <>
            <label className="col-span-2 text-sm">
              Private key (OpenSSH or PEM)
              <textarea
                name="privateKey"
                required
                rows={4}
                spellCheck={false}
                placeholder="-----BEGIN OPENSSH PRIVATE KEY-----"
                className={`${field} font-mono text-xs`}
              />
            </label>
            <label className="text-sm">
              Key passphrase (if any)
              <input name="passphrase" type="password" autoComplete="off" className={field} />
            </label>
          </>
        ) : (
          <label className="col-span-3 text-sm">
            Password
            <input name="password" type="password" required autoComplete="off" className={field} />
          </label>
        )}
        <label className="text-sm">
          Sudo password (when the user is not root)
          <input name="sudoPassword" type="password" autoComplete="off" className={field} />
        </label>
        <label className="text-sm">
          Action
          <select
            name="action"
            value={action}
            onChange={(event) => setAction(event.target.value === 'uninstall' ? 'uninstall' : 'install')}
            className={field}
          >
            <option value="install">Install the agent</option>
            <option value="uninstall">Uninstall the agent</option>
          </select>
        </label>
        <div className="flex flex-col justify-end text-sm">
          {action === 'install' ? (
            <label>
              <input type="checkbox" name="allowPackages" /> Install missing packages (apt-get)
            </label>
          ) : (
            <label>
              <input type="checkbox" name="removeContainers" /> Also remove its containers
            </label>
          )}
        </div>
        <details className="col-span-3 text-sm">
          <summary className="cursor-pointer text-slate-600">Install locations</summary>
          <div className="mt-2 grid grid-cols-3 gap-3">
            <label>
              Agent directory
              <input name="prefix" placeholder="/opt/berth" autoComplete="off" className={field} />
            </label>
            <label>
              Data root (images, containers, volumes)
              <input name="dataRoot" placeholder="/var/lib/berth" autoComplete="off" className={field} />
            </label>
            <label>
              Docker API socket
              <input
                name="dockerSocket"
                placeholder="/run/berth/docker.sock"
                autoComplete="off"
                className={field}
              />
            </label>
          </div>
        </details>
        <div className="col-span-3 flex items-center gap-3">
          <button
            type="submit"
            disabled={probe.isPending}
            className="rounded bg-sky-700 px-3 py-1 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-50"
          >
            {probe.isPending ? 'Connecting…' : 'Check the host key'}
          </button>
          {probe.error ? (
            <span role="alert" className="text-sm text-red-700">
              {probe.error.message}
            </span>
          ) : null}
        </div>
      </form>

      {probed ? (
        <div
          data-testid="host-key"
          className={`mt-6 max-w-3xl rounded border p-4 text-sm ${probed.pinned && !probed.pinned.matches ? 'border-red-400 bg-red-50' : 'border-slate-200 bg-white'}`}
        >
          <p>
            {probed.address} presents the {probed.keyType} host key
          </p>
          <p className="mt-1 font-mono text-base" data-testid="host-key-fingerprint">
            {probed.fingerprint}
          </p>
          {probed.pinned?.matches ? (
            <p className="mt-2 text-green-800">This is the key confirmed for this address before.</p>
          ) : null}
          {probed.pinned && !probed.pinned.matches ? (
            <div role="alert" className="mt-2 text-red-800">
              <p className="font-semibold">The host key has changed.</p>
              <p>
                It was {probed.pinned.fingerprint} when confirmed. Another machine may be answering at this
                address. Berth will not connect. Only if you know the host was reinstalled, forget the old key
                and check again.
              </p>
              <button
                type="button"
                onClick={() => {
                  const v = values();
                  forget.mutate(
                    { teamId, host: v.host, port: v.port },
                    { onSuccess: () => probe.mutate({ teamId, host: v.host, port: v.port }) },
                  );
                }}
                className="mt-2 rounded border border-red-400 px-2 py-0.5 text-xs hover:bg-red-100"
              >
                Forget the old key
              </button>
            </div>
          ) : null}
          {!probed.pinned ? (
            <p className="mt-2 text-slate-700">
              Compare it with what the host itself prints (
              <code>ssh-keygen -lf /etc/ssh/ssh_host_{probed.keyType.replace(/^ssh-/, '')}_key.pub</code>)
              before confirming; it is then pinned for this address.
            </p>
          ) : null}
          {!probed.pinned || probed.pinned.matches ? (
            <button
              type="button"
              onClick={confirm}
              disabled={install.isPending || uninstall.isPending}
              className="mt-3 rounded bg-sky-700 px-3 py-1 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-50"
            >
              {action === 'install' ? 'Confirm the key and install' : 'Confirm the key and uninstall'}
            </button>
          ) : null}
          {startError ? (
            <p role="alert" className="mt-2 text-red-700">
              {startError.message}
            </p>
          ) : null}
        </div>
      ) : null}

      {runId ? <RunView teamId={teamId} runId={runId} /> : null}
      <OneLineCommand teamId={teamId} />
    </section>
  );
}
