/** Inputs and outputs of the container detail page's procedures: inspect, usage, state history, recreate. */
import { z } from 'zod';
import { operationProgressSchema, operationStates } from '../operations/schemas';

const containerId = z.string().regex(/^[0-9a-f]{64}$/);

export const containerRefInput = z.object({
  teamId: z.string().uuid(),
  hostId: z.string().uuid(),
  containerId,
});
export type ContainerRefInput = z.infer<typeof containerRefInput>;

const stringList = z.array(z.string()).nullish();

/**
 * The engine's inspect answer, Docker-API-shaped. Only what the page renders is checked; every other field
 * passes through for the raw view.
 */
export const containerInspectSchema = z.looseObject({
  Id: containerId,
  Name: z.string(),
  Created: z.string(),
  Path: z.string().optional(),
  Args: z.array(z.string()).optional(),
  Image: z.string(),
  RestartCount: z.number().int(),
  State: z.looseObject({
    Status: z.string(),
    Running: z.boolean(),
    Paused: z.boolean(),
    Restarting: z.boolean(),
    OOMKilled: z.boolean(),
    Dead: z.boolean(),
    Pid: z.number().int(),
    ExitCode: z.number().int(),
    Error: z.string(),
    StartedAt: z.string(),
    FinishedAt: z.string(),
    Health: z
      .object({
        Status: z.string(),
        FailingStreak: z.number().int(),
        Log: z
          .array(
            z.object({ Start: z.string(), End: z.string(), ExitCode: z.number().int(), Output: z.string() }),
          )
          .nullish(),
      })
      .optional(),
  }),
  Config: z.looseObject({
    Image: z.string(),
    Hostname: z.string().optional(),
    User: z.string().optional(),
    WorkingDir: z.string().optional(),
    Tty: z.boolean().optional(),
    Env: z.array(z.string()),
    Cmd: stringList,
    Entrypoint: stringList,
    Labels: z.record(z.string(), z.string()),
    ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
    StopSignal: z.string().optional(),
    Healthcheck: z
      .looseObject({
        Test: z.array(z.string()).nullish(),
        Interval: z.number().optional(),
        Retries: z.number().optional(),
      })
      .optional(),
  }),
  HostConfig: z.looseObject({
    NetworkMode: z.string().optional(),
    RestartPolicy: z.object({ Name: z.string(), MaximumRetryCount: z.number().int() }).optional(),
    PortBindings: z
      .record(z.string(), z.array(z.object({ HostIp: z.string(), HostPort: z.string() })).nullable())
      .nullish(),
    Binds: stringList,
    Memory: z.number().optional(),
    MemorySwap: z.number().optional(),
    NanoCpus: z.number().optional(),
    CpuShares: z.number().optional(),
    PidsLimit: z.number().nullish(),
    Privileged: z.boolean().optional(),
    ReadonlyRootfs: z.boolean().optional(),
    AutoRemove: z.boolean().optional(),
    CapAdd: stringList,
    CapDrop: stringList,
  }),
  Mounts: z.array(
    z.looseObject({
      Type: z.string(),
      Name: z.string().optional(),
      Source: z.string(),
      Destination: z.string(),
      Mode: z.string(),
      RW: z.boolean(),
    }),
  ),
  NetworkSettings: z.looseObject({
    Ports: z
      .record(z.string(), z.array(z.object({ HostIp: z.string(), HostPort: z.string() })).nullable())
      .optional(),
    Networks: z.record(
      z.string(),
      z.looseObject({
        Aliases: stringList,
        IPAddress: z.string().optional(),
        IPPrefixLen: z.number().optional(),
        Gateway: z.string().optional(),
        MacAddress: z.string().optional(),
      }),
    ),
  }),
});
export type ContainerInspect = z.infer<typeof containerInspectSchema>;

export const containerDetailSchema = z.object({
  host: z.object({ id: z.string(), name: z.string(), online: z.boolean() }),
  /** The inventory's row: what the host last reported, also while it is offline. */
  container: z
    .object({
      name: z.string(),
      image: z.string(),
      state: z.string(),
      status: z.string(),
      created: z.number(),
    })
    .nullable(),
  /** Live from the agent; null when it could not answer (then `inspectError` says why). */
  inspect: containerInspectSchema.nullable(),
  inspectError: z.string().nullable(),
});
export type ContainerDetail = z.infer<typeof containerDetailSchema>;

export const stateHistoryInput = containerRefInput.extend({
  limit: z.number().int().min(1).max(200).default(100),
});
export type StateHistoryInput = z.infer<typeof stateHistoryInput>;

export const stateHistorySchema = z.array(
  z.object({
    id: z.string(),
    action: z.string(),
    name: z.string(),
    exitCode: z.number().int().nullable(),
    time: z.string(),
  }),
);
export type StateHistory = z.infer<typeof stateHistorySchema>;

export const recreateInput = containerRefInput.extend({
  /** Pull the image reference the container was created from first (Portainer's "pull latest image"). */
  pull: z.boolean().default(true),
});
export type RecreateInput = z.infer<typeof recreateInput>;

export const recreateOutput = z.object({ operationId: z.string() });

export const recreateStatusInput = z.object({ teamId: z.string().uuid(), operationId: z.string().uuid() });
export type RecreateStatusInput = z.infer<typeof recreateStatusInput>;

export const recreateStatusSchema = z.object({
  state: z.enum(operationStates),
  error: z.string().nullable(),
  progress: operationProgressSchema.nullable(),
  /** Once it succeeded: the new container, under the old one's name. */
  result: z
    .object({
      id: z.string(),
      previousId: z.string(),
      name: z.string(),
      imageId: z.string(),
      previousImageId: z.string(),
      warnings: z.array(z.string()),
    })
    .nullable(),
});
export type RecreateStatus = z.infer<typeof recreateStatusSchema>;

const count = z.number().nonnegative().catch(0);
const blkioEntries = z.array(z.object({ op: z.string().catch(''), value: count })).nullish();

/** The parts of the agent's Docker-shaped stats sample the page shows; everything else is dropped. */
export const agentStatsSchema = z.object({
  read: z.string(),
  cpu_stats: z.object({
    cpu_usage: z.object({ total_usage: count }),
    system_cpu_usage: count.optional(),
    online_cpus: count.optional(),
  }),
  memory_stats: z.object({
    usage: count.optional(),
    limit: count.optional(),
    stats: z.record(z.string(), count).optional(),
  }),
  pids_stats: z.object({ current: count.optional(), limit: count.optional() }),
  blkio_stats: z.object({ io_service_bytes_recursive: blkioEntries }),
  networks: z.record(z.string(), z.object({ rx_bytes: count, tx_bytes: count })).optional(),
});

export type AgentStats = z.infer<typeof agentStatsSchema>;

/** One usage sample of a container; `running` false (and zeros) when it does not run. */
export const containerUsageSchema = z.object({
  running: z.boolean(),
  read: z.string(),
  cpuTotal: z.number(),
  systemCpu: z.number(),
  onlineCpus: z.number(),
  /** Used memory as `docker stats` counts it: usage less the inactive page cache. */
  memoryUsed: z.number(),
  memoryLimit: z.number(),
  pids: z.number().nullable(),
  pidsLimit: z.number().nullable(),
  networkRx: z.number(),
  networkTx: z.number(),
  blockRead: z.number(),
  blockWrite: z.number(),
});
export type ContainerUsage = z.infer<typeof containerUsageSchema>;
