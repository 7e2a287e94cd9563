'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { formatBytes } from '../../../lib/format';
import { useTRPC } from '../../../lib/trpc';
import { Badge, buttonClass, inputClass, useToast } from '../fleet-ui';

type Pulled = Array<{ hostId: string; operationId: string }>;

/**
 * `docker pull` on several hosts at once: the online hosts to choose from, then one row per host with its
 * state and a progress bar per layer, from the operations the pull started (refreshed while they run).
 */
export function PullPanel({ teamId, onDone }: { teamId: string; onDone: () => void }) {
  const trpc = useTRPC();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [reference, setReference] = useState('');
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [pulled, setPulled] = useState<Pulled>([]);
  const hosts = useQuery({
    ...trpc.hosts.list.queryOptions({ teamId, pageSize: 100, containersPerHost: 0 }),
    enabled: open,
  });
  const pull = useMutation(
    trpc.images.pull.mutationOptions({
      onSuccess: (result) => {
        setPulled(result.operations);
        toast(`Pulling ${reference} on ${result.operations.length} host(s)`);
      },
      onError: (error) => toast(error.message, 'error'),
    }),
  );
  const progress = useQuery({
    ...trpc.operations.list.queryOptions({ teamId, ids: pulled.map((p) => p.operationId), limit: 100 }),
    enabled: pulled.length > 0,
    refetchInterval: (query) => {
      const running = query.state.data?.operations.some((o) => o.state === 'running') ?? true;
      if (!running) onDone();
      return running ? 500 : false;
    },
  });
  const online = (hosts.data?.rows ?? []).filter((h) => h.online);
  if (!open)
    return (
      <button type="button" className={`mt-4 ${buttonClass}`} onClick={() => setOpen(true)}>
        Pull an image
      </button>
    );
  return (
    <form
      data-testid="pull-form"
      className="mt-4 rounded border border-slate-200 p-4 dark:border-slate-700"
      onSubmit={(event) => {
        event.preventDefault();
        pull.mutate({ teamId, reference, hostIds: [...chosen] });
      }}
    >
      <label className="block text-sm">
        Image
        <input
          name="reference"
          required
          value={reference}
          onChange={(e) => setReference(e.target.value)}
          placeholder="busybox:1.36 or registry.example:5000/app:2"
          className={`mt-1 block w-96 ${inputClass}`}
        />
      </label>
      <fieldset className="mt-3 text-sm">
        <legend>On the hosts</legend>
        {hosts.isPending ? <p className="text-slate-500">Loading hosts…</p> : null}
        {hosts.data && online.length === 0 ? <p className="text-slate-500">No host is online.</p> : null}
        {online.map((h) => (
          <label key={h.id} className="mr-4 inline-flex items-center gap-1">
            <input
              type="checkbox"
              checked={chosen.has(h.id)}
              onChange={(e) => {
                const next = new Set(chosen);
                if (e.target.checked) next.add(h.id);
                else next.delete(h.id);
                setChosen(next);
              }}
            />
            {h.name}
          </label>
        ))}
      </fieldset>
      <div className="mt-3 flex gap-2">
        <button type="submit" className={buttonClass} disabled={pull.isPending || chosen.size === 0}>
          Pull
        </button>
        <button type="button" className={buttonClass} onClick={() => setOpen(false)}>
          Close
        </button>
      </div>
      {progress.data ? (
        <ul className="mt-4 space-y-3" data-testid="pull-progress">
          {progress.data.operations.map((op) => (
            <li key={op.id} data-testid={`pull-${op.hostName ?? op.hostId}`}>
              <div className="flex items-center gap-2 text-sm">
                <span className="font-medium">{op.hostName ?? op.hostId.slice(0, 8)}</span>
                <Badge value={op.state.replace('_', ' ')} />
                <span className="text-slate-500">{op.error ?? op.progress?.status ?? ''}</span>
              </div>
              {(op.progress?.layers ?? []).map((layer) => (
                <div key={layer.id} className="mt-1 flex items-center gap-2 font-mono text-xs">
                  <span className="w-28">{layer.id}</span>
                  <progress
                    className="h-2 w-48"
                    aria-label={`layer ${layer.id}`}
                    max={layer.total ?? 1}
                    value={
                      layer.status === 'Pull complete' || layer.status === 'Already exists'
                        ? (layer.total ?? 1)
                        : (layer.current ?? 0)
                    }
                  />
                  <span>{layer.status}</span>
                  {layer.total ? (
                    <span className="text-slate-500">
                      {formatBytes(layer.current ?? 0)} / {formatBytes(layer.total)}
                    </span>
                  ) : null}
                </div>
              ))}
            </li>
          ))}
        </ul>
      ) : null}
    </form>
  );
}
