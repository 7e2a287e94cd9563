/**
 * A container's health as the docker status line tells it (`Up 3 minutes (healthy)`), for rows that carry only
 * that line (the fleet inventory); undefined for a container without a healthcheck or not running.
 */
export type Health = 'healthy' | 'unhealthy' | 'starting';

export function healthOf(status: string | null | undefined): Health | undefined {
  const match = /\((healthy|unhealthy|health: starting)\)$/.exec(status ?? '');
  if (!match) return undefined;
  return match[1] === 'health: starting' ? 'starting' : (match[1] as Health);
}

/** The health inspect reports (`State.Health.Status`), when it is one Berth knows. */
export function asHealth(value: string | undefined): Health | undefined {
  return value === 'healthy' || value === 'unhealthy' || value === 'starting' ? value : undefined;
}

/** The badge text: as docker ps words it. */
export function healthLabel(health: Health): string {
  return health === 'starting' ? 'health: starting' : health;
}
