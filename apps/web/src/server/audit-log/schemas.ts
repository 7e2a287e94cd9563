import { z } from 'zod';

export const auditListInput = z.object({
  teamId: z.string().uuid(),
  /** Matches actions by prefix: `container` finds container.stop, container.deploy… */
  action: z
    .string()
    .trim()
    .max(64)
    .regex(/^[a-z_.]*$/, 'Actions are lower-case words with dots')
    .optional(),
  cursor: z.string().uuid().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export type AuditListInput = z.infer<typeof auditListInput>;
