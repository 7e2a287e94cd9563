/**
 * Operations: every command sent to an agent is a row first (who asked, the command without secrets, its
 * deadline), then runs under the row's id, which is also the agent's request id. The row ends in exactly one
 * of succeeded, failed (with the reason) or timed_out; nothing is lost silently:
 * - the agent disconnects before answering: the row stays running and is sent again, under the same id, when
 *   the agent is back on any instance (the agent answers a repeated id from what it remembers);
 * - the control plane restarts meanwhile: the same, from the instance the agent reconnects to;
 * - nobody answers before the deadline: a sweep marks it timed out, visibly.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from '@berth/agent/protocol/messages';
import {
  type AgentGateway,
  AgentUnavailableError,
  gateway,
  isAgentCommandError,
  isAgentUnavailable,
  type ProgressListener,
} from '../agents/gateway';
import { db } from '../db';
import { buildFold } from '../images/build-progress';
import { type OperationList, type OperationListInput, operationProgressSchema } from './schemas';

/** After the deadline a missing result is a timeout; the grace covers the agent's own time to answer. */
const deadlineGraceMs = 5_000;
const sweepIntervalMs = 10_000;
const resultKeptBytes = 16 * 1024;

/** The command as stored: a registry password (deploy, pull) never reaches the database. */
function storable(command: Command): { command: Record<string, unknown>; redeliverable: boolean } {
  if ('auth' in command && command.auth) {
    const { auth: _secret, ...rest } = command;
    return { command: rest, redeliverable: false };
  }
  return { command: command as Record<string, unknown>, redeliverable: true };
}

function keptResult(result: unknown): object | undefined {
  if (result === undefined || result === null) return undefined;
  const text = JSON.stringify(result);
  return text.length <= resultKeptBytes ? (result as object) : { truncated: true, bytes: text.length };
}

async function finish(id: string, outcome: { ok: true; result: unknown } | { ok: false; error: Error }) {
  const data = outcome.ok
    ? { state: 'succeeded', result: keptResult(outcome.result) ?? {}, finishedAt: new Date() }
    : isAgentUnavailable(outcome.error) && outcome.error.reason === 'timeout'
      ? { state: 'timed_out', error: outcome.error.message, finishedAt: new Date() }
      : { state: 'failed', error: outcome.error.message.slice(0, 4096), finishedAt: new Date() };
  // Only a running row ends: a late answer never overwrites an outcome already recorded.
  await db().operation.updateMany({ where: { id, state: 'running' }, data });
}

export interface OperationInput {
  teamId: string;
  hostId: string;
  userId: string | null;
  command: Command;
  target?: string;
  timeoutMs: number;
  /** Keep the agent's progress events (per layer) on the row, for pages that follow a pull. */
  followProgress?: boolean;
  /** Keep them folded this way instead (a build's steps and output); implies following. */
  progressFold?: ProgressFold;
}

/** How an operation's progress events become the document kept on its row. */
export interface ProgressFold {
  add(updates: Array<Record<string, unknown>>): void;
  snapshot(): object;
}

/**
 * Records an operation and sends its command; resolves once the row exists, with the outcome to come. A
 * disconnect before the answer keeps the operation running (it is redelivered); `done` then rejects saying
 * it is pending.
 */
export async function startOperation(
  input: OperationInput,
  via: AgentGateway = gateway(),
): Promise<{ id: string; done: Promise<unknown> }> {
  const id = randomUUID();
  const { command, redeliverable } = storable(input.command);
  await db().operation.create({
    data: {
      id,
      teamId: input.teamId,
      hostId: input.hostId,
      userId: input.userId,
      kind: input.command.kind,
      target: input.target ?? null,
      command: command as object,
      redeliverable,
      state: 'running',
      instanceId: via.instanceId ?? null,
      deadline: new Date(Date.now() + input.timeoutMs),
    },
  });
  const progress = input.progressFold
    ? progressRecorder(id, input.progressFold)
    : input.followProgress
      ? progressRecorder(id, pullFold())
      : undefined;
  const done = (async () => {
    try {
      const result = await via.request(input.hostId, input.command, input.timeoutMs, id, progress?.listener);
      await progress?.flush();
      await finish(id, { ok: true, result });
      return result;
    } catch (error) {
      await progress?.flush();
      const e = error as Error;
      if (isAgentUnavailable(e) && e.reason === 'disconnected' && redeliverable)
        throw new AgentUnavailableError(
          'the agent disconnected before answering; the operation goes on when it is back',
          'disconnected',
        );
      if (isAgentUnavailable(e) || isAgentCommandError(e)) await finish(id, { ok: false, error: e });
      else await finish(id, { ok: false, error: new Error('internal error') });
      throw error;
    }
  })();
  return { id, done };
}

/** Runs a command on a host as an operation and answers with its result (see startOperation). */
export async function runOperation(input: OperationInput, via: AgentGateway = gateway()): Promise<unknown> {
  const { done } = await startOperation(input, via);
  return done;
}

/** A layer's last reported state, as `docker pull` shows it. */
export interface LayerProgress {
  id: string;
  status: string;
  current?: number;
  total?: number;
}

const progressWriteMs = 500;

/** A pull's events folded into one line per layer, and the newest status line without one. */
function pullFold(): ProgressFold {
  const layers = new Map<string, LayerProgress>();
  let status = '';
  return {
    add(updates) {
      for (const update of updates) {
        const text = typeof update.status === 'string' ? update.status.slice(0, 200) : '';
        const layer =
          typeof update.id === 'string' && /^[0-9a-f]{12}$/.test(update.id) ? update.id : undefined;
        if (!layer) {
          if (text) status = text;
          continue;
        }
        const detail = update.progressDetail as { current?: unknown; total?: unknown } | undefined;
        const entry: LayerProgress = { id: layer, status: text };
        if (typeof detail?.current === 'number') entry.current = detail.current;
        if (typeof detail?.total === 'number') entry.total = detail.total;
        layers.set(layer, entry);
      }
    },
    snapshot: () => ({ status, layers: [...layers.values()] }),
  };
}

/** Folds progress events as `fold` says and writes the result on the row at most twice a second. */
export function progressRecorder(
  id: string,
  fold: ProgressFold,
): { listener: ProgressListener; flush: () => Promise<void> } {
  let dirty = false;
  let timer: NodeJS.Timeout | undefined;
  let writing = Promise.resolve();
  const write = () => {
    timer = undefined;
    if (!dirty) return writing;
    dirty = false;
    const progress = fold.snapshot();
    writing = writing
      .then(() =>
        db().operation.updateMany({
          where: { id, state: 'running' },
          data: { progress: progress as object },
        }),
      )
      .then(
        () => {},
        () => {},
      );
    return writing;
  };
  return {
    listener: (updates) => {
      fold.add(updates);
      dirty = true;
      timer ??= setTimeout(() => void write(), progressWriteMs);
    },
    flush: async () => {
      if (timer) clearTimeout(timer);
      await write();
    },
  };
}

/** Sends again what a host's agent has not answered yet, under the same ids; called when it comes online. */
export async function redeliverOperations(hostId: string, via: AgentGateway = gateway()): Promise<void> {
  const pending = await db().operation.findMany({
    where: { hostId, state: 'running', deadline: { gt: new Date() } },
    orderBy: { createdAt: 'asc' },
  });
  for (const operation of pending) {
    if (!operation.redeliverable) {
      await finish(operation.id, {
        ok: false,
        error: new Error('the agent went away before answering and the command held a secret; run it again'),
      });
      continue;
    }
    await db().operation.update({
      where: { id: operation.id },
      data: { instanceId: via.instanceId ?? null },
    });
    const remaining = Math.max(1000, operation.deadline.getTime() - Date.now());
    // A build's page goes on showing its steps: its progress is followed again, from what the row holds.
    const progress =
      operation.kind === 'image.build'
        ? progressRecorder(operation.id, buildFold(operation.progress))
        : undefined;
    via
      .request(hostId, operation.command as Command, remaining, operation.id, progress?.listener)
      .finally(() => progress?.flush())
      .then(
        (result) => finish(operation.id, { ok: true, result }),
        (error: Error) =>
          isAgentUnavailable(error) && error.reason === 'disconnected'
            ? undefined // sent again on the next reconnect
            : finish(operation.id, { ok: false, error }),
      )
      .catch(() => {});
  }
}

/** Marks operations whose deadline passed without an answer as timed out. */
export async function sweepOperations(now = new Date()): Promise<number> {
  const { count } = await db().operation.updateMany({
    where: { state: 'running', deadline: { lt: new Date(now.getTime() - deadlineGraceMs) } },
    data: { state: 'timed_out', error: 'no answer from the agent before the deadline', finishedAt: now },
  });
  return count;
}

/** Wires operations into this instance's gateway: redelivery on reconnect and the deadline sweep. */
export function startOperations(via: AgentGateway = gateway()): () => void {
  via.onAgentOnline((hostId) => void redeliverOperations(hostId, via).catch(() => {}));
  const timer = setInterval(() => void sweepOperations().catch(() => {}), sweepIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

export async function listOperations(input: OperationListInput): Promise<OperationList> {
  const rows = await db().operation.findMany({
    where: {
      teamId: input.teamId,
      ...(input.hostId ? { hostId: input.hostId } : {}),
      ...(input.ids?.length ? { id: { in: input.ids } } : {}),
      ...(input.state ? { state: input.state } : {}),
    },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: input.limit + 1,
    ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
  });
  const hosts = await db().host.findMany({
    where: { id: { in: [...new Set(rows.map((r) => r.hostId))] } },
    select: { id: true, name: true },
  });
  const hostNames = new Map(hosts.map((h) => [h.id, h.name]));
  const users = await db().user.findMany({
    where: { id: { in: [...new Set(rows.map((r) => r.userId).filter((u): u is string => !!u))] } },
    select: { id: true, email: true },
  });
  const emails = new Map(users.map((u) => [u.id, u.email]));
  const page = rows.slice(0, input.limit);
  return {
    operations: page.map((r) => ({
      id: r.id,
      hostId: r.hostId,
      hostName: hostNames.get(r.hostId) ?? null,
      requestedBy: r.userId ? (emails.get(r.userId) ?? null) : null,
      kind: r.kind,
      target: r.target,
      state: r.state as OperationList['operations'][number]['state'],
      error: r.error,
      progress: operationProgressSchema
        .nullable()
        .catch(null)
        .parse(r.progress ?? null),
      createdAt: r.createdAt.toISOString(),
      finishedAt: r.finishedAt?.toISOString() ?? null,
    })),
    nextCursor: rows.length > input.limit ? (page.at(-1)?.id ?? null) : null,
  };
}
