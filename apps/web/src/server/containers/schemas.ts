import { z } from 'zod';

export const containerActionInput = z.object({
  teamId: z.string().uuid(),
  hostId: z.string().uuid(),
  containerId: z.string().regex(/^[0-9a-f]{64}$/),
  action: z.enum(['start', 'stop', 'restart', 'remove']),
});
export type ContainerActionInput = z.infer<typeof containerActionInput>;
