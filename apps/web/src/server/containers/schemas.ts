import { z } from 'zod';

export const containerActions = ['start', 'stop', 'restart', 'kill', 'pause', 'unpause', 'remove'] as const;
export type ContainerAction = (typeof containerActions)[number];

const containerId = z.string().regex(/^[0-9a-f]{64}$/);

export const containerActionInput = z.object({
  teamId: z.string().uuid(),
  hostId: z.string().uuid(),
  containerId,
  action: z.enum(containerActions),
});
export type ContainerActionInput = z.infer<typeof containerActionInput>;

/** One action on a selection that may span hosts; each target is checked, run and audited on its own. */
export const bulkActionInput = z.object({
  teamId: z.string().uuid(),
  action: z.enum(containerActions),
  targets: z
    .array(z.object({ hostId: z.string().uuid(), containerId }))
    .min(1)
    .max(500),
});
export type BulkActionInput = z.infer<typeof bulkActionInput>;

export const bulkActionOutput = z.array(
  z.object({ hostId: z.string(), containerId: z.string(), ok: z.boolean(), error: z.string().optional() }),
);
export type BulkActionResult = z.infer<typeof bulkActionOutput>;

/** A label filter: `key` (present with any value) or `key=value`, as `docker ps --filter label=…`. */
export const labelFilter = z
  .string()
  .trim()
  .min(1)
  .max(512)
  .regex(/^[^=\s][^=]*(=.*)?$/, 'Label filters look like key or key=value');

export function parseLabelFilter(filter: string): { key: string; value?: string } {
  const at = filter.indexOf('=');
  return at < 0 ? { key: filter } : { key: filter.slice(0, at), value: filter.slice(at + 1) };
}

export const containerStates = [
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
] as const;

export const fleetListInput = z.object({
  teamId: z.string().uuid(),
  /** Matched (case-insensitive, substring) against the container's name, its image and its host's name. */
  search: z.string().trim().max(256).default(''),
  labels: z.array(labelFilter).max(16).default([]),
  states: z.array(z.enum(containerStates)).max(containerStates.length).default([]),
  hostId: z.string().uuid().optional(),
  sort: z.enum(['name', 'image', 'state', 'host', 'created']).default('name'),
  direction: z.enum(['asc', 'desc']).default('asc'),
  page: z.number().int().min(1).max(100_000).default(1),
  pageSize: z.number().int().min(1).max(200).default(50),
});
export type FleetListInput = z.infer<typeof fleetListInput>;

export const fleetContainerSchema = z.object({
  hostId: z.string(),
  hostName: z.string(),
  containerId: z.string(),
  name: z.string(),
  image: z.string(),
  state: z.string(),
  status: z.string(),
  created: z.number(),
  labels: z.record(z.string(), z.string()),
  /** The host is offline: this is the last state it reported. */
  stale: z.boolean(),
  lastSeenAt: z.date().nullable(),
});
export type FleetContainer = z.infer<typeof fleetContainerSchema>;

export const fleetListOutput = z.object({
  rows: z.array(fleetContainerSchema),
  total: z.number().int(),
  page: z.number().int(),
  pageSize: z.number().int(),
});
export type FleetList = z.infer<typeof fleetListOutput>;

const portSpec = /^(?:(?:\d{1,3}\.){3}\d{1,3}:)?(?:\d{1,5}:)?\d{1,5}(?:\/(?:tcp|udp))?$/;

export const deployInput = z.object({
  teamId: z.string().uuid(),
  hostId: z.string().uuid(),
  image: z.string().trim().min(1, 'An image is required').max(1024),
  name: z
    .string()
    .trim()
    .regex(/^([a-zA-Z0-9][a-zA-Z0-9_.-]+)?$/, 'Names use letters, digits, _ . and -')
    .max(255)
    .optional(),
  ports: z
    .array(z.string().trim().regex(portSpec, 'Ports look like 8080:80 or 127.0.0.1:8080:80/tcp'))
    .max(64)
    .default([]),
  env: z
    .array(
      z
        .string()
        .trim()
        .regex(/^[^=\s]+=/, 'Environment entries look like KEY=value'),
    )
    .max(256)
    .default([]),
  restartPolicy: z.enum(['no', 'always', 'unless-stopped', 'on-failure']).default('no'),
  /** Arguments after the image, as with `docker run IMAGE ARG…`; none keeps the image's command. */
  cmd: z.array(z.string().max(65536)).max(256).optional(),
  network: z
    .string()
    .trim()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'Network names use letters, digits, _ . and -')
    .max(255)
    .optional(),
});
export type DeployInput = z.infer<typeof deployInput>;

/**
 * Live logs of one container (`hostId` + `containerId`), of several (`c=hostId:containerId`, repeated) or of
 * every container matching labels (`label=key=value`, repeated), merged by time.
 */
export const logsInput = z
  .object({
    teamId: z.string().uuid(),
    targets: z
      .array(z.object({ hostId: z.string().uuid(), containerId }))
      .max(20)
      .default([]),
    labels: z.array(labelFilter).max(16).default([]),
    tail: z.coerce.number().int().min(0).max(10_000).default(200),
    /** Seconds since the epoch: only lines from then on. */
    since: z.coerce.number().nonnegative().optional(),
  })
  .refine((input) => input.targets.length > 0 || input.labels.length > 0, {
    message: 'Name a container or a label',
  });
export type LogsInput = z.infer<typeof logsInput>;

/** The query string of GET /api/logs, as `logsInput` takes it. */
export function logsQuery(params: URLSearchParams): unknown {
  const targets = params.getAll('c').map((pair) => {
    const [hostId, containerId] = pair.split(':');
    return { hostId, containerId };
  });
  const hostId = params.get('hostId');
  const containerId = params.get('containerId');
  if (hostId && containerId) targets.push({ hostId, containerId });
  return {
    teamId: params.get('teamId') ?? undefined,
    targets,
    labels: params.getAll('label'),
    tail: params.get('tail') ?? undefined,
    since: params.get('since') ?? undefined,
  };
}
