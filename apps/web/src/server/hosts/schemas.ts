import { z } from 'zod';
import { labelFilter } from '../containers/schemas';

export const hostListInput = z.object({
  teamId: z.string().uuid(),
  /** Matched (case-insensitive, substring) against the host's name and its OS. */
  search: z.string().trim().max(256).default(''),
  labels: z.array(labelFilter).max(16).default([]),
  page: z.number().int().min(1).max(100_000).default(1),
  pageSize: z.number().int().min(1).max(100).default(25),
  /** Containers listed under each host on the page (the host's page lists them all). */
  containersPerHost: z.number().int().min(0).max(100).default(20),
});
export type HostListInput = z.infer<typeof hostListInput>;

export const hostStatus = z.enum(['online', 'offline', 'never connected', 'revoked']);
export type HostStatus = z.infer<typeof hostStatus>;

const hostContainer = z.object({
  id: z.string(),
  name: z.string(),
  image: z.string(),
  state: z.string(),
  status: z.string(),
});

export const hostSummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  status: hostStatus,
  enrolled: z.boolean(),
  online: z.boolean(),
  agentVersion: z.string().nullable(),
  lastSeenAt: z.string().nullable(),
  createdAt: z.string(),
  os: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  images: z.number().int(),
  /** Containers by state, e.g. { running: 3, exited: 1 }. */
  states: z.record(z.string(), z.number().int()),
  containerCount: z.number().int(),
  containers: z.array(hostContainer),
});
export type HostSummary = z.infer<typeof hostSummarySchema>;

export const hostListOutput = z.object({
  rows: z.array(hostSummarySchema),
  total: z.number().int(),
  page: z.number().int(),
  pageSize: z.number().int(),
});
export type HostList = z.infer<typeof hostListOutput>;

export const hostIdInput = z.object({ teamId: z.string().uuid(), hostId: z.string().uuid() });

export const hostDetailSchema = hostSummarySchema.omit({ containers: true }).extend({
  revokedAt: z.string().nullable(),
  facts: z
    .object({
      hostname: z.string(),
      os: z.string(),
      kernel: z.string(),
      arch: z.string(),
      cpus: z.number(),
      memoryBytes: z.number(),
      runtimes: z.record(z.string(), z.string()),
    })
    .nullable(),
  volumes: z.number().int(),
  networks: z.number().int(),
});
export type HostDetail = z.infer<typeof hostDetailSchema>;

export const hostName = z
  .string()
  .trim()
  .min(1, 'A name is required')
  .max(63)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, 'Host names use letters, digits, . _ and -');

export const hostRenameInput = hostIdInput.extend({ name: hostName });

const labelKey = z
  .string()
  .trim()
  .min(1)
  .max(256)
  .regex(/^[^=\s]+$/, 'Label keys have no spaces or =');

export const hostLabelsInput = hostIdInput.extend({
  labels: z
    .record(labelKey, z.string().max(1024))
    .refine((l) => Object.keys(l).length <= 64, 'At most 64 labels'),
});
