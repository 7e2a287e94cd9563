/**
 * One container of a team's host: its inspect data live from the agent (the inventory row says what the host
 * last reported when the agent cannot answer), and recreating it with its settings as an operation.
 */
import { z } from 'zod';
import { AgentCommandError, gateway, isAgentCommandError, isAgentUnavailable } from '../agents/gateway';
import { recordAudit } from '../audit';
import { db } from '../db';
import { operationProgressSchema } from '../operations/schemas';
import { startOperation } from '../operations/service';
import { credentialsForImage } from '../registries/service';
import { HostNotFoundError } from './actions';
import {
  type AgentStats,
  agentStatsSchema,
  type ContainerDetail,
  type ContainerRefInput,
  type ContainerUsage,
  containerInspectSchema,
  type RecreateInput,
  type RecreateStatus,
  type RecreateStatusInput,
  type StateHistory,
  type StateHistoryInput,
} from './detail-schemas';
import { listStateHistory } from './history';

/** An inspect is a read the page waits on: shorter than a command's deadline. */
const inspectTimeoutMs = 10_000;
/** Pulling a large image is most of a recreate's time. */
const recreateTimeoutMs = 30 * 60_000;

export class ContainerNotFoundError extends Error {
  override readonly name = 'ContainerNotFoundError';
}

async function teamHost(teamId: string, hostId: string) {
  const host = await db().host.findFirst({
    where: { id: hostId, teamId, revokedAt: null },
    select: { id: true, name: true, online: true, teamId: true },
  });
  if (!host) throw new HostNotFoundError('No such host in this team.');
  return host;
}

export async function containerDetail(input: ContainerRefInput): Promise<ContainerDetail> {
  const host = await teamHost(input.teamId, input.hostId);
  const row = await db().hostContainer.findUnique({
    where: { hostId_containerId: { hostId: host.id, containerId: input.containerId } },
  });
  let inspect: ContainerDetail['inspect'] = null;
  let inspectError: string | null = null;
  try {
    const answer = await gateway().request(
      host.id,
      { kind: 'container.inspect', containerId: input.containerId },
      inspectTimeoutMs,
    );
    const parsed = containerInspectSchema.safeParse(answer);
    if (parsed.success) inspect = parsed.data;
    else inspectError = 'The agent answered with an inspect this control plane does not understand.';
  } catch (error) {
    if (isAgentCommandError(error) && error.code === 'not_found') {
      if (!row) throw new ContainerNotFoundError('No such container on this host.');
      inspectError = 'The host no longer has this container.';
    } else if (isAgentUnavailable(error) || isAgentCommandError(error)) inspectError = error.message;
    else throw error;
  }
  if (!inspect && !row) throw new ContainerNotFoundError('No such container on this host.');
  return {
    host: { id: host.id, name: host.name, online: host.online },
    container: row
      ? {
          name: row.name,
          image: row.image,
          state: row.state,
          status: row.status,
          created: Number(row.created),
        }
      : null,
    inspect,
    inspectError,
  };
}

/** A read the page repeats every few seconds: short, and never an operation. */
const statsTimeoutMs = 5_000;

/** One usage sample of a running container (CPU counters, memory, pids, network and block I/O) from its agent. */
export async function containerUsage(input: ContainerRefInput): Promise<ContainerUsage> {
  const host = await teamHost(input.teamId, input.hostId);
  let answer: unknown;
  try {
    answer = await gateway().request(
      host.id,
      { kind: 'container.stats', containerId: input.containerId },
      statsTimeoutMs,
    );
  } catch (error) {
    if (isAgentCommandError(error) && error.code === 'not_found')
      throw new ContainerNotFoundError('No such container on this host.');
    throw error;
  }
  const parsed = agentStatsSchema.safeParse(answer);
  if (!parsed.success)
    throw new AgentCommandError(
      'bad_answer',
      'The agent answered with stats this control plane does not understand.',
    );
  return usageFromStats(parsed.data);
}

export function usageFromStats(stats: AgentStats): ContainerUsage {
  const memory = stats.memory_stats;
  // What `docker stats` shows: the page cache the kernel may drop is not counted as used.
  const inactive = memory.stats?.total_inactive_file ?? memory.stats?.inactive_file ?? 0;
  const blkio = stats.blkio_stats.io_service_bytes_recursive ?? [];
  const sumOp = (op: string) =>
    blkio.filter((e) => e.op.toLowerCase() === op).reduce((sum, e) => sum + e.value, 0);
  const networks = Object.values(stats.networks ?? {});
  return {
    running: !stats.read.startsWith('0001-'),
    read: stats.read,
    cpuTotal: stats.cpu_stats.cpu_usage.total_usage,
    systemCpu: stats.cpu_stats.system_cpu_usage ?? 0,
    onlineCpus: stats.cpu_stats.online_cpus ?? 0,
    memoryUsed: Math.max(0, (memory.usage ?? 0) - inactive),
    memoryLimit: memory.limit ?? 0,
    pids: stats.pids_stats.current ?? null,
    pidsLimit: stats.pids_stats.limit ?? null,
    networkRx: networks.reduce((sum, n) => sum + n.rx_bytes, 0),
    networkTx: networks.reduce((sum, n) => sum + n.tx_bytes, 0),
    blockRead: sumOp('read'),
    blockWrite: sumOp('write'),
  };
}

export async function stateHistory(input: StateHistoryInput): Promise<StateHistory> {
  const host = await teamHost(input.teamId, input.hostId);
  return listStateHistory(host.id, input.containerId, input.limit);
}

const recreateResultSchema = z.object({
  Id: z.string(),
  PreviousId: z.string(),
  Name: z.string(),
  ImageId: z.string(),
  PreviousImageId: z.string(),
  Warnings: z.array(z.string()),
});

/**
 * Starts recreating a container (see packages/engine/src/containers/recreate.ts) and answers with the
 * operation's id at once; the page follows its progress. The team's credential for the image's registry rides
 * in the command only, as with a pull.
 */
export async function startRecreate(input: RecreateInput, userId: string): Promise<{ operationId: string }> {
  const host = await teamHost(input.teamId, input.hostId);
  const row = await db().hostContainer.findUnique({
    where: { hostId_containerId: { hostId: host.id, containerId: input.containerId } },
  });
  if (!row) throw new ContainerNotFoundError('No such container on this host.');
  const auth = input.pull ? await credentialsForImage(input.teamId, row.image) : undefined;
  const audit = (ok: boolean, extra: Record<string, string | null>) =>
    recordAudit({
      action: 'container.recreate',
      userId,
      teamId: input.teamId,
      target: `${host.id}/${input.containerId}`,
      detail: {
        host: host.name,
        name: row.name,
        image: row.image,
        pull: input.pull,
        credentials: auth?.serverAddress ?? null,
        ok,
        ...extra,
      },
    }).catch(() => {});
  const { id, done } = await startOperation({
    teamId: input.teamId,
    hostId: host.id,
    userId,
    command: {
      kind: 'container.recreate',
      containerId: input.containerId,
      pull: input.pull,
      ...(auth ? { auth } : {}),
    },
    target: input.containerId,
    timeoutMs: recreateTimeoutMs,
    followProgress: true,
  });
  void done.then(
    (result) => {
      const parsed = recreateResultSchema.safeParse(result);
      return audit(true, { newContainer: parsed.success ? parsed.data.Id : null });
    },
    (error: Error) => audit(false, { error: error.message.slice(0, 500) }),
  );
  return { operationId: id };
}

export async function recreateStatus(input: RecreateStatusInput): Promise<RecreateStatus> {
  const operation = await db().operation.findFirst({
    where: { id: input.operationId, teamId: input.teamId, kind: 'container.recreate' },
  });
  if (!operation) throw new ContainerNotFoundError('No such recreate in this team.');
  const result = recreateResultSchema.safeParse(operation.result);
  return {
    state: operation.state as RecreateStatus['state'],
    error: operation.error,
    progress: operationProgressSchema
      .nullable()
      .catch(null)
      .parse(operation.progress ?? null),
    result:
      operation.state === 'succeeded' && result.success
        ? {
            id: result.data.Id,
            previousId: result.data.PreviousId,
            name: result.data.Name,
            imageId: result.data.ImageId,
            previousImageId: result.data.PreviousImageId,
            warnings: result.data.Warnings,
          }
        : null,
  };
}
