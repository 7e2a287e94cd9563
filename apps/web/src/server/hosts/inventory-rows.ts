/**
 * The inventory as rows (host_container, host_image): replaced from each full inventory an agent sends and kept
 * current by its container deltas, so fleet-wide pages page, filter and sort in SQL. The JSON snapshot on the
 * host stays the source the digest check compares against; these rows follow it in the same transaction.
 */
import type { ContainerSummary, Inventory } from '@berth/agent/protocol/messages';
import type { Db } from '@berth/db/client';
import { db } from '../db';

type Tx = Pick<Db, 'hostContainer' | 'hostImage'>;

function containerRow(hostId: string, teamId: string, c: ContainerSummary) {
  return {
    hostId,
    containerId: c.id,
    teamId,
    name: c.name,
    image: c.image,
    state: c.state,
    status: c.status,
    created: BigInt(Math.trunc(c.created)),
    labels: c.labels,
    ports: c.ports,
  };
}

/** Replaces every row of one host with what its inventory holds. */
export async function replaceInventoryRows(
  hostId: string,
  teamId: string,
  inventory: Inventory,
  tx: Tx = db(),
): Promise<void> {
  await tx.hostContainer.deleteMany({ where: { hostId } });
  await tx.hostImage.deleteMany({ where: { hostId } });
  if (inventory.containers.length > 0)
    await tx.hostContainer.createMany({
      data: inventory.containers.map((c) => containerRow(hostId, teamId, c)),
      skipDuplicates: true,
    });
  if (inventory.images.length > 0)
    await tx.hostImage.createMany({
      data: inventory.images.map((i) => ({
        hostId,
        imageId: i.id,
        teamId,
        repoTags: i.repoTags,
        size: BigInt(Math.trunc(i.size)),
        created: BigInt(Math.trunc(i.created)),
      })),
      skipDuplicates: true,
    });
}

/** One container's new state (or its removal), as a delta or a command's result reported it. */
export async function applyContainerRow(
  hostId: string,
  teamId: string,
  change: { container: ContainerSummary } | { removedId: string },
  tx: Tx = db(),
): Promise<void> {
  if ('removedId' in change) {
    await tx.hostContainer.deleteMany({ where: { hostId, containerId: change.removedId } });
    return;
  }
  const row = containerRow(hostId, teamId, change.container);
  await tx.hostContainer.upsert({
    where: { hostId_containerId: { hostId, containerId: row.containerId } },
    create: row,
    update: row,
  });
}
