import { engineFactsSchema } from '@berth/agent/protocol/messages';
import { z } from 'zod';

export const enrollInput = z.object({
  token: z.string().min(16).max(256),
  // SPKI DER of an Ed25519 key, base64: 44 bytes, 60 characters.
  publicKey: z
    .string()
    .min(40)
    .max(120)
    .regex(/^[A-Za-z0-9+/=]+$/),
  protocolVersion: z.number().int().positive(),
  facts: engineFactsSchema,
});
export type EnrollInput = z.infer<typeof enrollInput>;

/** "Add a host": how many hosts the token may enrol and for how long (a week at most). */
export const enrollmentTokenInput = z.object({
  teamId: z.string().uuid(),
  uses: z.number().int().min(1).max(10_000).optional(),
  expiresInMinutes: z
    .number()
    .int()
    .min(5)
    .max(7 * 24 * 60)
    .optional(),
});
