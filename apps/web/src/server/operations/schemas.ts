import { z } from 'zod';

export const operationStates = ['running', 'succeeded', 'failed', 'timed_out'] as const;

export const operationListInput = z.object({
  teamId: z.uuid(),
  hostId: z.uuid().optional(),
  state: z.enum(operationStates).optional(),
  /** Only these operations (a page following the pulls it started). */
  ids: z.array(z.uuid()).max(100).optional(),
  cursor: z.uuid().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export type OperationListInput = z.infer<typeof operationListInput>;

export const operationProgressSchema = z.object({
  status: z.string(),
  layers: z.array(
    z.object({
      id: z.string(),
      status: z.string(),
      current: z.number().optional(),
      total: z.number().optional(),
    }),
  ),
});

export const operationSchema = z.object({
  id: z.string(),
  hostId: z.string(),
  hostName: z.string().nullable(),
  requestedBy: z.string().nullable(),
  kind: z.string(),
  target: z.string().nullable(),
  state: z.enum(operationStates),
  error: z.string().nullable(),
  progress: operationProgressSchema.nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});

export const operationListSchema = z.object({
  operations: z.array(operationSchema),
  nextCursor: z.string().nullable(),
});
export type OperationList = z.infer<typeof operationListSchema>;
