'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { formatBytes } from '../../../../lib/format';
import { tarParts } from '../../../../lib/tar';
import { useTRPC } from '../../../../lib/trpc';
import { Badge, buttonClass, inputClass, useToast } from '../../fleet-ui';
import { placeholderTeam, useCurrentTeam } from '../../team-context';

/** As the agent enforces it; checked here first so a big upload is refused before it starts. */
const maxContextBytes = 200 * 1024 * 1024;

type Context =
  | { kind: 'none' }
  | { kind: 'archive'; file: File }
  | { kind: 'files'; files: Array<{ path: string; file: File }> };

function contextBytes(context: Context): number {
  if (context.kind === 'archive') return context.file.size;
  if (context.kind === 'files') return context.files.reduce((n, f) => n + f.file.size, 0);
  return 0;
}

/** A directory pick gives paths under the chosen directory's name: the context is that directory itself. */
function filesOf(list: FileList, fromDirectory: boolean): Array<{ path: string; file: File }> {
  return [...list].map((file) => {
    const relative = fromDirectory && file.webkitRelativePath ? file.webkitRelativePath : file.name;
    return { path: fromDirectory ? relative.split('/').slice(1).join('/') : relative, file };
  });
}

function contextBody(context: Context): Blob | undefined {
  if (context.kind === 'archive') return context.file;
  if (context.kind !== 'files' || context.files.length === 0) return undefined;
  // The files go into the Blob as they are: the browser streams them, nothing is read into memory here.
  const parts = tarParts(
    context.files.map(({ path, file }) => ({
      path,
      body: file,
      size: file.size,
      mtime: Math.floor(file.lastModified / 1000),
    })),
  );
  return new Blob(parts as BlobPart[], { type: 'application/x-tar' });
}

function words(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((t) => t.trim())
    .filter(Boolean);
}

function buildArgs(text: string): Array<{ name: string; value: string }> {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const eq = line.indexOf('=');
      return eq === -1 ? { name: line, value: '' } : { name: line.slice(0, eq), value: line.slice(eq + 1) };
    });
}

/**
 * `docker build` on one host from the page: a Dockerfile, an optional context (a .tar/.tar.gz, or files and
 * directories packed into a tar here), tags, build args, target, no-cache, pull and push; then the build's
 * steps as they happen, with cache hits, each RUN's output and, at the end, the image or the failing step.
 */
export function BuildView() {
  const trpc = useTRPC();
  const toast = useToast();
  const { me, team, canOperate } = useCurrentTeam();
  const [hostId, setHostId] = useState('');
  const [dockerfile, setDockerfile] = useState('FROM busybox\n');
  const [context, setContext] = useState<Context>({ kind: 'none' });
  const [tags, setTags] = useState('');
  const [args, setArgs] = useState('');
  const [target, setTarget] = useState('');
  const [noCache, setNoCache] = useState(false);
  const [pull, setPull] = useState(false);
  const [push, setPush] = useState(false);
  const [network, setNetwork] = useState<'default' | 'none' | 'host'>('default');
  const [uploading, setUploading] = useState(false);
  const [operationId, setOperationId] = useState<string | undefined>();
  const teamId = team?.teamId ?? placeholderTeam;
  const hosts = useQuery({
    ...trpc.hosts.list.queryOptions({ teamId, pageSize: 100, containersPerHost: 0 }),
    enabled: Boolean(team),
  });
  const start = useMutation(
    trpc.images.build.mutationOptions({
      onSuccess: (result) => setOperationId(result.operationId),
      onError: (error) => toast(error.message, 'error'),
    }),
  );
  const status = useQuery({
    ...trpc.images.buildStatus.queryOptions({ teamId, operationId: operationId ?? placeholderTeam }),
    enabled: Boolean(team && operationId),
    refetchInterval: (query) => (query.state.data && query.state.data.state !== 'running' ? false : 500),
  });
  if (me.isPending) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  if (!canOperate)
    return (
      <section>
        <h1 className="text-2xl font-semibold">Build an image</h1>
        <p className="mt-2">Building images needs the operator role in {team.teamName}.</p>
      </section>
    );
  const online = (hosts.data?.rows ?? []).filter((h) => h.online);
  const size = contextBytes(context);
  const tooBig = size > maxContextBytes;
  const busy = uploading || start.isPending || status.data?.state === 'running';

  const submit = async () => {
    if (!hostId) return toast('Pick a host to build on.', 'error');
    if (tooBig) return toast('The build context is over 200 MiB.', 'error');
    setOperationId(undefined);
    let uploadId: string | undefined;
    try {
      const body = contextBody(context);
      if (body) {
        setUploading(true);
        const response = await fetch(
          `/api/images/build-context?teamId=${encodeURIComponent(team.teamId)}&hostId=${encodeURIComponent(hostId)}`,
          { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } },
        );
        const answer = (await response.json().catch(() => ({}))) as { uploadId?: string; message?: string };
        if (!response.ok || !answer.uploadId)
          throw new Error(answer.message ?? `The upload failed (HTTP ${response.status}).`);
        uploadId = answer.uploadId;
      }
    } catch (error) {
      toast((error as Error).message, 'error');
      return;
    } finally {
      setUploading(false);
    }
    start.mutate({
      teamId: team.teamId,
      hostId,
      ...(uploadId ? { uploadId } : {}),
      dockerfile,
      tags: words(tags),
      buildArgs: buildArgs(args),
      ...(target.trim() ? { target: target.trim() } : {}),
      noCache,
      pull,
      push,
      network,
    });
  };

  const build = status.data;
  const steps = build?.progress?.steps ?? [];
  return (
    <section>
      <p className="text-sm">
        <Link href="/images" className="text-sky-700 underline dark:text-sky-400">
          Images
        </Link>{' '}
        / Build
      </p>
      <h1 className="mt-1 text-2xl font-semibold">Build an image</h1>
      <form
        data-testid="build-form"
        className="mt-4 space-y-3"
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <label className="block text-sm">
          Host
          <select
            name="host"
            required
            value={hostId}
            onChange={(e) => setHostId(e.target.value)}
            className={`mt-1 block w-96 ${inputClass}`}
          >
            <option value="">Choose an online host…</option>
            {online.map((h) => (
              <option key={h.id} value={h.id}>
                {h.name}
              </option>
            ))}
          </select>
          {hosts.data && online.length === 0 ? (
            <span className="text-slate-500">No host is online.</span>
          ) : null}
        </label>
        <label className="block text-sm">
          Dockerfile
          <textarea
            name="dockerfile"
            required
            rows={10}
            spellCheck={false}
            value={dockerfile}
            onChange={(e) => setDockerfile(e.target.value)}
            className={`mt-1 block w-full max-w-3xl font-mono ${inputClass}`}
          />
        </label>
        <fieldset className="text-sm">
          <legend>Build context (optional)</legend>
          <div className="mt-1 flex flex-wrap gap-4">
            <label>
              An archive (.tar, .tar.gz){' '}
              <input
                type="file"
                name="archive"
                accept=".tar,.tar.gz,.tgz,application/x-tar,application/gzip"
                onChange={(e) => {
                  const file = e.target.files?.[0];
                  setContext(file ? { kind: 'archive', file } : { kind: 'none' });
                }}
              />
            </label>
            <label>
              Files{' '}
              <input
                type="file"
                name="files"
                multiple
                onChange={(e) =>
                  setContext(
                    e.target.files?.length
                      ? { kind: 'files', files: filesOf(e.target.files, false) }
                      : { kind: 'none' },
                  )
                }
              />
            </label>
            <label>
              A directory{' '}
              <input
                type="file"
                name="directory"
                multiple
                {...{ webkitdirectory: '' }}
                onChange={(e) =>
                  setContext(
                    e.target.files?.length
                      ? { kind: 'files', files: filesOf(e.target.files, true) }
                      : { kind: 'none' },
                  )
                }
              />
            </label>
          </div>
          <p className="mt-1 text-slate-500" data-testid="context-summary">
            {context.kind === 'none'
              ? 'No context: the Dockerfile alone (COPY and ADD have nothing to copy).'
              : context.kind === 'archive'
                ? `${context.file.name}, ${formatBytes(size)}`
                : `${context.files.length} file(s), ${formatBytes(size)}, packed into a tar when you build`}
            {tooBig ? <span className="text-red-700"> — over the 200 MiB limit</span> : null}
          </p>
        </fieldset>
        <label className="block text-sm">
          Tags (separated by spaces)
          <input
            name="tags"
            value={tags}
            onChange={(e) => setTags(e.target.value)}
            placeholder="app:1 registry.example:5000/team/app:1"
            className={`mt-1 block w-full max-w-3xl ${inputClass}`}
          />
        </label>
        <label className="block text-sm">
          Build args (NAME=value, one per line)
          <textarea
            name="buildArgs"
            rows={2}
            value={args}
            onChange={(e) => setArgs(e.target.value)}
            className={`mt-1 block w-full max-w-3xl font-mono ${inputClass}`}
          />
        </label>
        <label className="block text-sm">
          Target stage
          <input
            name="target"
            value={target}
            onChange={(e) => setTarget(e.target.value)}
            className={`mt-1 block w-64 ${inputClass}`}
          />
        </label>
        <label className="block text-sm">
          Network for RUN steps
          <select
            name="network"
            value={network}
            onChange={(e) => setNetwork(e.target.value as 'default' | 'none' | 'host')}
            className={`mt-1 block w-64 ${inputClass}`}
          >
            <option value="default">default (the host's bridge)</option>
            <option value="none">none</option>
            <option value="host">host</option>
          </select>
        </label>
        <div className="flex flex-wrap gap-4 text-sm">
          <label className="inline-flex items-center gap-1">
            <input type="checkbox" checked={noCache} onChange={(e) => setNoCache(e.target.checked)} />
            No cache
          </label>
          <label className="inline-flex items-center gap-1">
            <input type="checkbox" checked={pull} onChange={(e) => setPull(e.target.checked)} />
            Always pull the FROM images
          </label>
          <label className="inline-flex items-center gap-1">
            <input type="checkbox" checked={push} onChange={(e) => setPush(e.target.checked)} />
            Push the tags after the build (with the team's credential for their registry)
          </label>
        </div>
        <button type="submit" className={buttonClass} disabled={busy || tooBig}>
          {uploading ? 'Uploading the context…' : busy ? 'Building…' : 'Build'}
        </button>
      </form>

      {build ? (
        <div className="mt-6" data-testid="build-status">
          <div className="flex items-center gap-2">
            <h2 className="text-lg font-semibold">Build on {build.hostName ?? build.hostId.slice(0, 8)}</h2>
            <Badge value={build.state.replace('_', ' ')} testId="build-state" />
          </div>
          <ol className="mt-3 space-y-2">
            {steps.map((step) => (
              <li key={step.step} data-testid={`build-step-${step.step}`} className="text-sm">
                <div className="flex items-center gap-2 font-mono">
                  <span>
                    Step {step.step}/{step.total} : {step.instruction}
                  </span>
                  {step.cached === true ? (
                    <span className="rounded bg-slate-200 px-1 text-xs dark:bg-slate-700">cache hit</span>
                  ) : null}
                  {step.cached === false ? (
                    <span className="rounded bg-sky-100 px-1 text-xs dark:bg-sky-900">built</span>
                  ) : null}
                </div>
                {step.output ? (
                  <pre
                    data-testid={`build-output-${step.step}`}
                    className="mt-1 max-h-64 overflow-auto rounded bg-slate-900 p-2 text-xs text-slate-100"
                  >
                    {step.outputTruncated ? '…\n' : ''}
                    {step.output}
                  </pre>
                ) : null}
              </li>
            ))}
          </ol>
          {build.progress?.failure ? (
            <p className="mt-3 text-sm text-red-700 dark:text-red-400" data-testid="build-failure">
              The RUN step failed with exit code {build.progress.failure.exitCode}:{' '}
              <code>{build.progress.failure.command}</code>
            </p>
          ) : null}
          {build.error ? (
            <p className="mt-2 text-sm text-red-700 dark:text-red-400" data-testid="build-error">
              {build.error}
            </p>
          ) : null}
          {(build.progress?.push ?? []).map((p) => (
            <p key={p.tag} className="mt-1 font-mono text-xs">
              push {p.tag}: {p.status}
            </p>
          ))}
          {build.result ? (
            <div className="mt-3 text-sm" data-testid="build-result">
              <p>
                Built <code data-testid="build-image-id">{build.result.id}</code>
              </p>
              {build.result.tags.length ? (
                <p>
                  Tagged{' '}
                  {build.result.tags.map((t) => (
                    <code key={t} className="mr-2">
                      {t}
                    </code>
                  ))}
                </p>
              ) : (
                <p>No tags.</p>
              )}
              {build.result.pushed.map((p) => (
                <p key={p.tag}>
                  Pushed <code>{p.tag}</code> as <code>{p.digest}</code>
                </p>
              ))}
              <p className="mt-1">
                <Link href="/images" className="text-sky-700 underline dark:text-sky-400">
                  See it on the Images page
                </Link>
              </p>
            </div>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
