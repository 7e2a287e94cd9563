import { z } from 'zod';

export const operationStates = ['running', 'succeeded', 'failed', 'timed_out'] as const;

export const operationListInput = z.object({
  teamId: z.uuid(),
  hostId: z.uuid().optional(),
  state: z.enum(operationStates).optional(),
  cursor: z.uuid().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export type OperationListInput = z.infer<typeof operationListInput>;

export const operationSchema = z.object({
  id: z.string(),
  hostId: z.string(),
  hostName: z.string().nullable(),
  requestedBy: z.string().nullable(),
  kind: z.string(),
  target: z.string().nullable(),
  state: z.enum(operationStates),
  error: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});

export const operationListSchema = z.object({
  operations: z.array(operationSchema),
  nextCursor: z.string().nullable(),
});
export type OperationList = z.infer<typeof operationListSchema>;
