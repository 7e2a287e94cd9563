/**
 * What the engine keeps per container in `<dataRoot>/containers/<id>/container.json`: the normalized
 * config, the resolved mounts and the state. Validated on load, so a damaged record costs only its own
 * container.
 */
import { z } from 'zod';
import { hostConfigSchema } from './config';
import { healthcheckSchema, healthStateSchema } from './health';

export const zeroTime = '0001-01-01T00:00:00Z';

const stateSchema = z.object({
  Status: z.enum(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']),
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
  /** Only for a container with a healthcheck, as dockerd shows it. */
  Health: healthStateSchema.optional(),
});
export type ContainerState = z.infer<typeof stateSchema>;

export const mountPointSchema = z.object({
  Type: z.enum(['bind', 'volume', 'tmpfs']),
  Name: z.string().optional(),
  Source: z.string(),
  Destination: z.string(),
  Driver: z.string().optional(),
  Mode: z.string(),
  RW: z.boolean(),
  Propagation: z.string(),
  Anonymous: z.boolean().optional(),
  NoCopy: z.boolean().optional(),
  TmpfsOptions: z.object({ SizeBytes: z.number().optional(), Mode: z.number().optional() }).optional(),
});
export type MountPoint = z.infer<typeof mountPointSchema>;

export const containerConfigSchema = z.object({
  Hostname: z.string(),
  Domainname: z.string(),
  User: z.string(),
  AttachStdin: z.boolean(),
  AttachStdout: z.boolean(),
  AttachStderr: z.boolean(),
  ExposedPorts: z.record(z.string(), z.object({})).optional(),
  Tty: z.boolean(),
  OpenStdin: z.boolean(),
  StdinOnce: z.boolean(),
  Env: z.array(z.string()),
  Cmd: z.array(z.string()).nullable(),
  Image: z.string(),
  Volumes: z.record(z.string(), z.object({})).nullable(),
  WorkingDir: z.string(),
  Entrypoint: z.array(z.string()).nullable(),
  Labels: z.record(z.string(), z.string()),
  StopSignal: z.string().optional(),
  StopTimeout: z.number().int().optional(),
  Healthcheck: healthcheckSchema.optional(),
});
export type ContainerConfig = z.infer<typeof containerConfigSchema>;

const endpointSettingsSchema = z.object({
  Aliases: z.array(z.string()).nullable(),
  NetworkID: z.string(),
  EndpointID: z.string(),
  Gateway: z.string(),
  IPAddress: z.string(),
  IPPrefixLen: z.number().int(),
  MacAddress: z.string(),
  IPAMConfig: z.object({ IPv4Address: z.string().optional() }).nullable(),
});
export type EndpointSettings = z.infer<typeof endpointSettingsSchema>;

export const publishedPortSchema = z.object({
  containerPort: z.number().int(),
  protocol: z.enum(['tcp', 'udp']),
  hostIp: z.string(),
  hostPort: z.number().int(),
});

export const containerRecordSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  name: z.string(),
  created: z.string(),
  imageId: z.string(),
  config: containerConfigSchema,
  hostConfig: hostConfigSchema,
  mounts: z.array(mountPointSchema),
  networks: z.record(z.string(), endpointSettingsSchema),
  ports: z.array(publishedPortSchema),
  state: stateSchema,
  restartCount: z.number().int(),
  manuallyStopped: z.boolean(),
  hostnamePath: z.string(),
  hostsPath: z.string(),
  resolvConfPath: z.string(),
  logPath: z.string(),
});
export type ContainerRecord = z.infer<typeof containerRecordSchema>;

export function createdState(): ContainerState {
  return {
    Status: 'created',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: '',
    StartedAt: zeroTime,
    FinishedAt: zeroTime,
  };
}
