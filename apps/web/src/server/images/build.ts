/**
 * `docker build` on one of the team's hosts, from the page. The context (a tar the browser made or was given)
 * streams through this instance to the agent in pieces as it arrives — never held whole, never in the
 * database — and waits there as an upload; the build then runs as an operation whose progress (steps, cache
 * hits, RUN output, a failing RUN's exit code, the push) is kept on its row for the page to follow. A push
 * after the build uses the team's credentials for the tags' registry, inside the command only.
 */
import { randomUUID } from 'node:crypto';
import { BUILD_CONTEXT_CHUNK_BYTES, BUILD_CONTEXT_MAX_BYTES } from '@berth/agent/protocol/messages';
import { parseReference } from '@berth/engine/images/reference';
import { gateway } from '../agents/gateway';
import { recordAudit } from '../audit';
import { HostNotFoundError } from '../containers/actions';
import { db } from '../db';
import { startOperation } from '../operations/service';
import { credentialsForImage } from '../registries/service';
import { buildFold } from './build-progress';
import {
  type BuildContextQuery,
  type BuildStatus,
  type BuildStatusInput,
  buildProgressSchema,
  buildResultSchema,
  type ImageBuildInput,
} from './build-schemas';

const buildTimeoutMs = 2 * 60 * 60_000;
const chunkTimeoutMs = 60_000;
/** Pieces in flight to the agent at once: enough to keep the link busy, few enough to bound memory. */
const chunksInFlight = 4;
/**
 * Pieces for an agent held by another instance go over the instance bus, whose NOTIFY payload stays under
 * 8000 bytes; bigger ones would be parked in a table, and a context must never pass through the database.
 */
const relayedChunkBytes = 4096;

export class BuildContextTooLargeError extends Error {
  override readonly name = 'BuildContextTooLargeError';
  constructor() {
    super(
      `The build context is over ${BUILD_CONTEXT_MAX_BYTES / 1024 / 1024} MiB. Leave big files out (a .dockerignore does not shrink an upload) or build on the host with docker build.`,
    );
  }
}

export class BuildRefusedError extends Error {
  override readonly name = 'BuildRefusedError';
}

export class BuildNotFoundError extends Error {
  override readonly name = 'BuildNotFoundError';
}

async function teamHost(teamId: string, hostId: string) {
  const host = await db().host.findFirst({
    where: { id: hostId, teamId, revokedAt: null },
    select: { id: true, name: true, teamId: true, connectedInstance: true },
  });
  if (!host) throw new HostNotFoundError('No such host in this team.');
  return host;
}

/**
 * Streams an uploaded context to a host's agent, in order of arrival with a few pieces in flight; stops at
 * the size limit (the declared length is checked before a byte is read). Returns the upload's id.
 */
export async function uploadBuildContext(
  input: BuildContextQuery,
  body: AsyncIterable<Uint8Array> | null,
  declaredBytes: number | null,
  maxBytes = BUILD_CONTEXT_MAX_BYTES,
): Promise<{ uploadId: string; bytes: number }> {
  const host = await teamHost(input.teamId, input.hostId);
  if (declaredBytes !== null && declaredBytes > maxBytes) throw new BuildContextTooLargeError();
  const via = gateway();
  const local = !via.instanceId || host.connectedInstance === via.instanceId;
  const chunkBytes = local ? BUILD_CONTEXT_CHUNK_BYTES : relayedChunkBytes;
  const uploadId = randomUUID();
  let offset = 0;
  const inFlight = new Set<Promise<unknown>>();
  let failure: unknown;
  const send = (piece: Buffer) => {
    const at = offset;
    offset += piece.length;
    const request = via
      .request(
        host.id,
        { kind: 'build.context', uploadId, offset: at, data: piece.toString('base64') },
        chunkTimeoutMs,
      )
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  };
  let pending = Buffer.alloc(0);
  for await (const part of body ?? []) {
    if (failure) break;
    if (offset + pending.length + part.length > maxBytes) {
      await Promise.all(inFlight);
      throw new BuildContextTooLargeError();
    }
    pending = pending.length ? Buffer.concat([pending, part]) : Buffer.from(part);
    while (pending.length >= chunkBytes) {
      send(pending.subarray(0, chunkBytes));
      pending = pending.subarray(chunkBytes);
      while (inFlight.size >= chunksInFlight) await Promise.race(inFlight);
    }
  }
  if (!failure && pending.length) send(pending);
  await Promise.all(inFlight);
  if (failure) throw failure;
  return { uploadId, bytes: offset };
}

function registryOf(tag: string): string {
  try {
    return parseReference(tag).domain;
  } catch {
    throw new BuildRefusedError(`Not an image tag: ${tag}`);
  }
}

/** Starts a build on one host as an operation; the page follows it through `buildStatus`. */
export async function startBuild(input: ImageBuildInput, userId: string): Promise<{ operationId: string }> {
  const host = await teamHost(input.teamId, input.hostId);
  const tags = [...new Set(input.tags)];
  const registries = [...new Set(tags.map(registryOf))];
  if (input.push && tags.length === 0) throw new BuildRefusedError('Give at least one tag to push.');
  if (input.push && registries.length > 1)
    throw new BuildRefusedError('Tags to push must all name the same registry.');
  const buildArgs = Object.fromEntries(input.buildArgs.map((a) => [a.name, a.value]));
  // The team's credentials for the tags' registry serve the push and any FROM image pulled from it.
  const auth = tags[0] ? await credentialsForImage(input.teamId, tags[0]) : undefined;
  const { id, done } = await startOperation({
    teamId: input.teamId,
    hostId: host.id,
    userId,
    command: {
      kind: 'image.build',
      ...(input.uploadId ? { uploadId: input.uploadId } : {}),
      dockerfile: input.dockerfile,
      tags,
      buildArgs,
      ...(input.target ? { target: input.target } : {}),
      noCache: input.noCache,
      pull: input.pull,
      push: input.push,
      network: input.network,
      ...(auth ? { auth } : {}),
    },
    ...(tags.length ? { target: tags.join(' ') } : {}),
    timeoutMs: buildTimeoutMs,
    progressFold: buildFold(),
  });
  const audit = (ok: boolean, detail: Record<string, string | null>) =>
    recordAudit({
      action: 'image.build',
      userId,
      teamId: input.teamId,
      target: `${host.id}/${tags[0] ?? id}`,
      detail: {
        host: host.name,
        operationId: id,
        tags: tags.join(' '),
        push: input.push,
        noCache: input.noCache,
        credentials: auth?.serverAddress ?? null,
        ok,
        ...detail,
      },
    }).catch(() => {});
  void done.then(
    (result) => audit(true, { imageId: buildResultSchema.safeParse(result).data?.id ?? null }),
    (error: Error & { reason?: string }) =>
      // Gone before answering: the build goes on and its row ends when the agent is back; nothing to say yet.
      error.name === 'AgentUnavailableError' && error.reason === 'disconnected'
        ? undefined
        : audit(false, { error: error.message.slice(0, 500) }),
  );
  return { operationId: id };
}

/** A build as its page shows it: state, steps with their output, the failing RUN's exit code, the result. */
export async function buildStatus(input: BuildStatusInput): Promise<BuildStatus> {
  const row = await db().operation.findFirst({
    where: { id: input.operationId, teamId: input.teamId, kind: 'image.build' },
  });
  if (!row) throw new BuildNotFoundError('No such build in this team.');
  const host = await db().host.findUnique({ where: { id: row.hostId }, select: { name: true } });
  const command = (row.command ?? {}) as { tags?: unknown; push?: unknown };
  return {
    operationId: row.id,
    hostId: row.hostId,
    hostName: host?.name ?? null,
    state: row.state as BuildStatus['state'],
    error: row.error,
    tags: Array.isArray(command.tags) ? command.tags.filter((t): t is string => typeof t === 'string') : [],
    push: command.push === true,
    progress: buildProgressSchema
      .nullable()
      .catch(null)
      .parse(row.progress ?? null),
    result:
      row.state === 'succeeded'
        ? buildResultSchema
            .nullable()
            .catch(null)
            .parse(row.result ?? null)
        : null,
    createdAt: row.createdAt.toISOString(),
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}
