/**
 * A container's state history: its transitions (create, start, die with the exit code, stop, pause…) as the
 * agent's event stream reports them, kept by the gateway beside the inventory rows. Bounded: the newest
 * `keptPerContainer` per container, a destroyed container's rows go with it (its page is gone too), and a full
 * inventory drops the rows of containers it no longer holds (an event missed while the agent was away).
 */
import type { AgentFrame } from '@berth/agent/protocol/messages';
import type { Db } from '@berth/db/client';
import { db } from '../db';
import type { StateHistory } from './detail-schemas';

export const keptPerContainer = 200;

/**
 * The engine's actions that change what a container is doing. Exec and attach events do not, nor does kill: it
 * sends a signal, and the die that follows (with its exit code) is the transition.
 */
export const stateActions = new Set([
  'create',
  'start',
  'restart',
  'die',
  'oom',
  'stop',
  'pause',
  'unpause',
  'rename',
]);

type Tx = Pick<Db, 'containerStateEvent' | '$executeRaw'>;
type EventFrame = Extract<AgentFrame, { type: 'event' }>;

/** Records one container event if it is a state transition; a destroy forgets the container's history. */
export async function recordStateEvent(
  hostId: string,
  teamId: string,
  frame: EventFrame,
  tx: Tx = db(),
): Promise<void> {
  const { event } = frame;
  if (event.Type !== 'container' || !/^[0-9a-f]{64}$/.test(event.Actor.ID)) return;
  const containerId = event.Actor.ID;
  if (event.Action === 'destroy') {
    await tx.containerStateEvent.deleteMany({ where: { hostId, containerId } });
    return;
  }
  if (!stateActions.has(event.Action)) return;
  const exit = Number.parseInt(event.Actor.Attributes.exitCode ?? '', 10);
  const name = event.Actor.Attributes.name ?? frame.container?.name ?? '';
  await tx.containerStateEvent.create({
    data: {
      hostId,
      teamId,
      containerId,
      name: name.slice(0, 255),
      action: event.Action,
      exitCode: event.Action === 'die' && Number.isFinite(exit) ? exit : null,
      timeNano: BigInt(Math.trunc(event.timeNano)),
    },
  });
  await tx.$executeRaw`
    DELETE FROM "container_state_event"
    WHERE "hostId" = ${hostId} AND "containerId" = ${containerId}
      AND "id" NOT IN (
        SELECT "id" FROM "container_state_event"
        WHERE "hostId" = ${hostId} AND "containerId" = ${containerId}
        ORDER BY "timeNano" DESC, "id" DESC
        LIMIT ${keptPerContainer})`;
}

/** After a full inventory: the history of containers the host no longer has goes. */
export async function forgetVanished(hostId: string, containerIds: string[], tx: Tx = db()): Promise<void> {
  await tx.containerStateEvent.deleteMany({ where: { hostId, containerId: { notIn: containerIds } } });
}

/** A host's container's transitions, newest first (the caller checked the host is the team's). */
export async function listStateHistory(
  hostId: string,
  containerId: string,
  limit: number,
): Promise<StateHistory> {
  const rows = await db().containerStateEvent.findMany({
    where: { hostId, containerId },
    orderBy: [{ timeNano: 'desc' }, { id: 'desc' }],
    take: limit,
  });
  return rows.map((r) => ({
    id: r.id.toString(),
    action: r.action,
    name: r.name,
    exitCode: r.exitCode,
    // Milliseconds are what a page shows; the nanoseconds stay for ordering.
    time: new Date(Number(r.timeNano / 1_000_000n)).toISOString(),
  }));
}
