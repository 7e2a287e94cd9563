/** Start, stop, restart or remove a container on one of the team's hosts, through that host's agent. */
import type { Command } from '@berth/agent/protocol/messages';
import { gateway } from '../agents/gateway';
import { recordAudit } from '../audit';
import { db } from '../db';
import { credentialsForImage } from '../registries/service';
import type { ContainerActionInput, DeployInput } from './schemas';

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
    case 'remove':
      return { kind: 'container.remove', containerId: input.containerId, force: true };
  }
}

export async function runContainerAction(input: ContainerActionInput, userId: string): Promise<void> {
  const host = await db().host.findFirst({ where: { id: input.hostId, teamId: input.teamId } });
  if (!host) throw new HostNotFoundError('No such host in this team.');
  try {
    await gateway().request(host.id, command(input));
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
    const result = (await gateway().request(
      host.id,
      {
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
      5 * 60_000,
    )) as { id?: string } | undefined;
    await audit(true);
    return { id: result?.id ?? null };
  } catch (error) {
    await audit(false, (error as Error).message);
    throw error;
  }
}
