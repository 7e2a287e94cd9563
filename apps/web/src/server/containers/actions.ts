/** Container actions (start … remove) on the team's hosts, through each host's agent, one or a selection. */
import { type Command, containerSummarySchema, REQUEST_TIMEOUT_MS } from '@berth/agent/protocol/messages';
import { recordAudit } from '../audit';
import { db } from '../db';
import { applyContainerRow } from '../hosts/inventory-rows';
import { runOperation } from '../operations/service';
import { credentialsForImage } from '../registries/service';
import type { BulkActionInput, BulkActionResult, ContainerActionInput, DeployInput } from './schemas';

export class HostNotFoundError extends Error {
  override readonly name = 'HostNotFoundError';
}

function command(input: ContainerActionInput): Command {
  switch (input.action) {
    case 'start':
      return { kind: 'container.start', containerId: input.containerId };
    case 'stop':
      return { kind: 'container.stop', containerId: input.containerId };
    case 'restart':
      return { kind: 'container.restart', containerId: input.containerId };
    case 'kill':
      return { kind: 'container.kill', containerId: input.containerId };
    case 'pause':
      return { kind: 'container.pause', containerId: input.containerId };
    case 'unpause':
      return { kind: 'container.unpause', containerId: input.containerId };
    case 'remove':
      return { kind: 'container.remove', containerId: input.containerId, force: true };
  }
}

/**
 * The agent answers an action with the container's new summary: the row takes it at once, so the page that
 * asked shows the new state on its next read even before the engine's event arrives as a delta.
 */
async function recordOutcome(hostId: string, teamId: string, input: ContainerActionInput, result: unknown) {
  if (input.action === 'remove') {
    await applyContainerRow(hostId, teamId, { removedId: input.containerId });
    return;
  }
  const summary = containerSummarySchema.safeParse(result);
  if (summary.success) await applyContainerRow(hostId, teamId, { container: summary.data });
}

export async function runContainerAction(input: ContainerActionInput, userId: string): Promise<void> {
  const host = await db().host.findFirst({
    where: { id: input.hostId, teamId: input.teamId, revokedAt: null },
  });
  if (!host) throw new HostNotFoundError('No such host in this team.');
  try {
    const result = await runOperation({
      teamId: host.teamId,
      hostId: host.id,
      userId,
      command: command(input),
      target: input.containerId,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    await recordOutcome(host.id, host.teamId, input, result);
    await recordAudit({
      action: `container.${input.action}`,
      userId,
      teamId: input.teamId,
      target: `${host.id}/${input.containerId}`,
      detail: { host: host.name, ok: true },
    });
  } catch (error) {
    await recordAudit({
      action: `container.${input.action}`,
      userId,
      teamId: input.teamId,
      target: `${host.id}/${input.containerId}`,
      detail: { host: host.name, ok: false, error: (error as Error).message.slice(0, 500) },
    });
    throw error;
  }
}

/** Runs one action on each target, a few at a time; a failure is that target's outcome, not the whole call's. */
export async function runBulkAction(input: BulkActionInput, userId: string): Promise<BulkActionResult> {
  const results: BulkActionResult = [];
  const queue = [...input.targets];
  const worker = async () => {
    for (let target = queue.shift(); target; target = queue.shift()) {
      try {
        await runContainerAction({ teamId: input.teamId, action: input.action, ...target }, userId);
        results.push({ ...target, ok: true });
      } catch (error) {
        const e = error as Error;
        const known = ['HostNotFoundError', 'AgentUnavailableError', 'AgentCommandError'].includes(e.name);
        results.push({ ...target, ok: false, error: known ? e.message : 'Something went wrong.' });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, input.targets.length) }, worker));
  return results;
}

/** Runs a new container on a host (pulling its image there first when missing), as `docker run -d`. */
export async function deployContainer(input: DeployInput, userId: string): Promise<{ id: string | null }> {
  const host = await db().host.findFirst({ where: { id: input.hostId, teamId: input.teamId } });
  if (!host) throw new HostNotFoundError('No such host in this team.');
  const audit = (ok: boolean, error?: string) =>
    recordAudit({
      action: 'container.deploy',
      userId,
      teamId: input.teamId,
      target: host.id,
      detail: {
        host: host.name,
        image: input.image,
        name: input.name ?? null,
        ok,
        ...(error ? { error: error.slice(0, 500) } : {}),
      },
    });
  // The team's saved credentials for the image's registry travel in this one command, never stored on the host.
  const auth = await credentialsForImage(input.teamId, input.image);
  try {
    const result = (await runOperation({
      teamId: host.teamId,
      hostId: host.id,
      userId,
      target: input.image,
      timeoutMs: 5 * 60_000,
      command: {
        kind: 'container.deploy',
        ...(auth ? { auth } : {}),
        image: input.image,
        ...(input.name ? { name: input.name } : {}),
        ...(input.cmd?.length ? { cmd: input.cmd } : {}),
        ...(input.network ? { network: input.network } : {}),
        env: input.env,
        ports: input.ports,
        volumes: [],
        restartPolicy: input.restartPolicy,
        labels: {},
      },
    })) as { id?: string } | undefined;
    await audit(true);
    return { id: result?.id ?? null };
  } catch (error) {
    await audit(false, (error as Error).message);
    throw error;
  }
}
