'use client';

import { useMutation } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { useTRPC } from '../../../lib/trpc';
import { actionLabels, actionsFor } from '../containers/actions';
import { buttonClass, useToast } from '../fleet-ui';
import { LogViewer } from '../logs/log-viewer';

export function AddHost({ teamId, canAdd }: { teamId: string; canAdd: boolean }) {
  const trpc = useTRPC();
  const enrollment = useMutation(trpc.hosts.startEnrollment.mutationOptions());
  const [uses, setUses] = useState(1);
  const [minutes, setMinutes] = useState(60);
  if (!canAdd) return null;
  return (
    <div className="mt-4">
      <button
        type="button"
        onClick={() => enrollment.mutate({ teamId, uses, expiresInMinutes: minutes })}
        disabled={enrollment.isPending}
        className="rounded-md bg-sky-700 px-4 py-2 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-50"
      >
        Add a host
      </button>
      <label className="ml-3 text-sm">
        for{' '}
        <input
          type="number"
          min={1}
          max={10000}
          value={uses}
          aria-label="Hosts the token may enrol"
          onChange={(e) => setUses(Math.max(1, Math.min(10_000, Number(e.target.value) || 1)))}
          className="w-16 rounded border border-slate-300 px-1 dark:border-slate-600 dark:bg-slate-800"
        />{' '}
        host(s), valid{' '}
        <select
          value={minutes}
          aria-label="How long the token stays valid"
          onChange={(e) => setMinutes(Number(e.target.value))}
          className="rounded border border-slate-300 px-1 dark:border-slate-600 dark:bg-slate-800"
        >
          <option value={60}>1 hour</option>
          <option value={24 * 60}>1 day</option>
          <option value={7 * 24 * 60}>7 days</option>
        </select>
      </label>
      <Link href="/hosts/add-ssh" className="ml-3 text-sm text-sky-800 underline" data-testid="add-ssh-link">
        Add a host over SSH
      </Link>
      {enrollment.error ? (
        <p role="alert" className="mt-2 text-sm text-red-700">
          {enrollment.error.message}
        </p>
      ) : null}
      {enrollment.data ? (
        <div className="mt-3 rounded-md border border-slate-200 bg-white p-4 text-sm">
          <p>
            On the host, as root, run (the token enrols{' '}
            {enrollment.data.uses === 1 ? 'one host' : `${enrollment.data.uses} hosts`}, until{' '}
            {new Date(enrollment.data.expiresAt).toLocaleString()}):
          </p>
          <pre
            className="mt-2 overflow-x-auto rounded bg-slate-900 p-3 text-slate-100"
            data-testid="install-command"
          >
            {enrollment.data.installCommand}
          </pre>
          <p className="mt-3">or, in a checkout of Berth:</p>
          <pre
            className="mt-2 overflow-x-auto rounded bg-slate-900 p-3 text-slate-100"
            data-testid="enroll-command"
          >
            {enrollment.data.command}
          </pre>
        </div>
      ) : null}
    </div>
  );
}

export function ContainerActions(props: {
  teamId: string;
  hostId: string;
  containerId: string;
  state: string;
  online: boolean;
  canOperate: boolean;
  onDone: () => void;
}) {
  const trpc = useTRPC();
  const toast = useToast();
  const action = useMutation(
    trpc.containers.action.mutationOptions({
      onError: (error) => toast(error.message, 'error'),
      onSettled: props.onDone,
    }),
  );
  if (!props.canOperate || !props.online) return null;
  return (
    <span className="flex flex-wrap items-center gap-1">
      {actionsFor(props.state).map((kind) => (
        <button
          key={kind}
          type="button"
          disabled={action.isPending}
          onClick={() => {
            if (kind === 'remove' && !window.confirm('Remove this container (it is stopped first)?')) return;
            action.mutate({
              teamId: props.teamId,
              hostId: props.hostId,
              containerId: props.containerId,
              action: kind,
            });
          }}
          className={buttonClass}
        >
          {actionLabels[kind]}
        </button>
      ))}
      {action.error ? (
        <span role="alert" className="text-xs text-red-700">
          {action.error.message}
        </span>
      ) : null}
    </span>
  );
}

/** A container's live logs inside another page (the hosts list): the log viewer, shorter. */
export function LogsPanel(props: { teamId: string; hostId: string; containerId: string }) {
  return (
    <div data-testid="logs-panel">
      <LogViewer
        teamId={props.teamId}
        targets={[{ hostId: props.hostId, containerId: props.containerId }]}
        height="16rem"
      />
    </div>
  );
}

export function DeployForm(props: { teamId: string; hostId: string; onDone: () => void }) {
  const trpc = useTRPC();
  const [open, setOpen] = useState(false);
  const deploy = useMutation(
    trpc.containers.deploy.mutationOptions({
      onSuccess: () => {
        setOpen(false);
        props.onDone();
      },
    }),
  );
  if (!open)
    return (
      <button
        type="button"
        onClick={() => setOpen(true)}
        className="mt-3 rounded border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100"
      >
        Deploy a container
      </button>
    );
  const field = 'mt-1 block w-full rounded border border-slate-300 px-2 py-1 text-sm';
  const list = (value: FormDataEntryValue | null) =>
    String(value ?? '')
      .split(/[\n,]/)
      .map((v) => v.trim())
      .filter(Boolean);
  return (
    <form
      className="mt-3 grid grid-cols-2 gap-3 rounded border border-slate-200 p-3"
      data-testid="deploy-form"
      onSubmit={(event) => {
        event.preventDefault();
        const form = new FormData(event.currentTarget);
        const name = String(form.get('name') ?? '').trim();
        const network = String(form.get('network') ?? '').trim();
        const cmd = String(form.get('cmd') ?? '')
          .trim()
          .split(/\s+/)
          .filter(Boolean);
        deploy.mutate({
          teamId: props.teamId,
          hostId: props.hostId,
          image: String(form.get('image') ?? ''),
          ...(name ? { name } : {}),
          ...(network ? { network } : {}),
          ...(cmd.length ? { cmd } : {}),
          ports: list(form.get('ports')),
          env: list(form.get('env')),
          restartPolicy: String(form.get('restartPolicy') ?? 'no') as 'no',
        });
      }}
    >
      <label className="text-sm">
        Image
        <input name="image" required placeholder="registry.example/app:1.2" className={field} />
      </label>
      <label className="text-sm">
        Name (optional)
        <input name="name" className={field} />
      </label>
      <label className="text-sm">
        Ports (host:container, comma separated)
        <input name="ports" placeholder="8080:80" className={field} />
      </label>
      <label className="text-sm">
        Restart policy
        <select name="restartPolicy" className={field} defaultValue="no">
          <option value="no">no</option>
          <option value="always">always</option>
          <option value="unless-stopped">unless-stopped</option>
          <option value="on-failure">on-failure</option>
        </select>
      </label>
      <label className="text-sm">
        Command (optional; arguments after the image)
        <input name="cmd" placeholder="httpd -f -p 80" className={field} />
      </label>
      <label className="text-sm">
        Network
        <input name="network" defaultValue="bridge" className={field} />
      </label>
      <label className="col-span-2 text-sm">
        Environment (KEY=value, one per line)
        <textarea name="env" rows={2} className={field} />
      </label>
      <div className="col-span-2 flex items-center gap-3">
        <button
          type="submit"
          disabled={deploy.isPending}
          className="rounded bg-sky-700 px-3 py-1 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-50"
        >
          {deploy.isPending ? 'Deploying…' : 'Deploy'}
        </button>
        <button type="button" onClick={() => setOpen(false)} className="text-sm text-slate-600">
          Cancel
        </button>
        {deploy.error ? (
          <span role="alert" data-testid="deploy-error" className="text-sm text-red-700">
            {deploy.error.message}
          </span>
        ) : null}
      </div>
    </form>
  );
}
