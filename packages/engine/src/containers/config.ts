/**
 * The container create body, shaped like the Docker Engine API's `ContainerConfig` + `HostConfig` +
 * `NetworkingConfig` (POST /containers/create). The Docker API forwards the body as is and the control plane
 * builds the same shape, so this schema is the one place where a create request is validated.
 */
import { z } from 'zod';
import { healthcheckSchema } from './health';

const stringMap = z.record(z.string(), z.string());
const emptyObjectMap = z.record(z.string(), z.looseObject({}));

export const restartPolicySchema = z.object({
  Name: z.enum(['', 'no', 'always', 'unless-stopped', 'on-failure']).default(''),
  MaximumRetryCount: z.number().int().min(0).default(0),
});
export type RestartPolicy = z.infer<typeof restartPolicySchema>;

export const portBindingSchema = z.object({
  HostIp: z.string().default(''),
  HostPort: z.string().default(''),
});

export const mountSchema = z.object({
  Type: z.enum(['bind', 'volume', 'tmpfs']),
  Source: z.string().default(''),
  Target: z.string().min(1),
  ReadOnly: z.boolean().default(false),
  BindOptions: z.looseObject({ Propagation: z.string().optional() }).nullish(),
  VolumeOptions: z.looseObject({ NoCopy: z.boolean().optional(), Labels: stringMap.nullish() }).nullish(),
  TmpfsOptions: z
    .looseObject({ SizeBytes: z.number().int().min(0).optional(), Mode: z.number().int().optional() })
    .nullish(),
});
export type MountRequest = z.infer<typeof mountSchema>;

export const endpointConfigSchema = z.looseObject({
  Aliases: z.array(z.string()).nullish(),
  IPAMConfig: z.looseObject({ IPv4Address: z.string().optional() }).nullish(),
});

export const hostConfigSchema = z.looseObject({
  Binds: z.array(z.string()).nullish(),
  Mounts: z.array(mountSchema).nullish(),
  PortBindings: z.record(z.string(), z.array(portBindingSchema).nullable()).nullish(),
  PublishAllPorts: z.boolean().optional(),
  RestartPolicy: restartPolicySchema.nullish(),
  AutoRemove: z.boolean().optional(),
  Memory: z.number().int().min(0).optional(),
  MemorySwap: z.number().int().min(-1).optional(),
  NanoCpus: z.number().int().min(0).optional(),
  CpuShares: z.number().int().min(0).optional(),
  PidsLimit: z.number().int().nullish(),
  ReadonlyRootfs: z.boolean().optional(),
  CapAdd: z.array(z.string()).nullish(),
  CapDrop: z.array(z.string()).nullish(),
  Privileged: z.boolean().optional(),
  SecurityOpt: z.array(z.string().max(65_536)).nullish(),
  NetworkMode: z.string().optional(),
  Dns: z.array(z.string()).nullish(),
  DnsSearch: z.array(z.string()).nullish(),
  ExtraHosts: z.array(z.string()).nullish(),
  Init: z.boolean().nullish(),
  ShmSize: z.number().int().min(0).optional(),
  Tmpfs: stringMap.nullish(),
  LogConfig: z.looseObject({ Type: z.string().optional(), Config: stringMap.nullish() }).nullish(),
});
export type HostConfig = z.infer<typeof hostConfigSchema>;

/**
 * `docker update` (POST /containers/{id}/update): the CLI sends every field, zero where no flag was given, so
 * zero means "leave as it is". What Berth cannot change is listed, to be refused when set rather than ignored.
 */
export const updateContainerSchema = z.looseObject({
  RestartPolicy: restartPolicySchema.nullish(),
  Memory: z.number().int().min(0).optional(),
  MemorySwap: z.number().int().min(-1).optional(),
  NanoCpus: z.number().int().min(0).optional(),
  CpuShares: z.number().int().min(0).optional(),
  PidsLimit: z.number().int().nullish(),
});
export type UpdateContainer = z.infer<typeof updateContainerSchema>;
export const notUpdatable = [
  'CpuPeriod',
  'CpuQuota',
  'CpuRealtimePeriod',
  'CpuRealtimeRuntime',
  'CpusetCpus',
  'CpusetMems',
  'BlkioWeight',
  'MemoryReservation',
  'KernelMemory',
  'KernelMemoryTCP',
  'CpuCount',
  'CpuPercent',
] as const;

export const createContainerSchema = z.looseObject({
  Hostname: z.string().max(63).optional(),
  Domainname: z.string().optional(),
  User: z.string().optional(),
  AttachStdin: z.boolean().optional(),
  AttachStdout: z.boolean().optional(),
  AttachStderr: z.boolean().optional(),
  ExposedPorts: emptyObjectMap.nullish(),
  Tty: z.boolean().optional(),
  OpenStdin: z.boolean().optional(),
  StdinOnce: z.boolean().optional(),
  Env: z.array(z.string()).nullish(),
  Cmd: z.union([z.array(z.string()), z.string()]).nullish(),
  Entrypoint: z.union([z.array(z.string()), z.string()]).nullish(),
  Image: z.string().min(1, 'No image was specified'),
  Healthcheck: healthcheckSchema.nullish(),
  Volumes: emptyObjectMap.nullish(),
  WorkingDir: z.string().optional(),
  Labels: stringMap.nullish(),
  StopSignal: z.string().optional(),
  StopTimeout: z.number().int().nullish(),
  HostConfig: hostConfigSchema.nullish(),
  NetworkingConfig: z
    .looseObject({ EndpointsConfig: z.record(z.string(), endpointConfigSchema).nullish() })
    .nullish(),
});
export type CreateContainerRequest = z.input<typeof createContainerSchema>;
export type CreateContainerBody = z.infer<typeof createContainerSchema>;

/** `80/tcp` → { port: 80, protocol: 'tcp' }. */
export function parsePortKey(key: string): { port: number; protocol: 'tcp' | 'udp' } {
  const match = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(key);
  const port = Number(match?.[1]);
  if (!match || port < 1 || port > 65535) throw new Error(`invalid port specification: "${key}"`);
  return { port, protocol: (match[2] as 'tcp' | 'udp' | undefined) ?? 'tcp' };
}
