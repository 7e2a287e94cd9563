import { z } from 'zod';

export const ownerInput = z.object({
  name: z.string().trim().min(1, 'Your name is required').max(100),
  email: z.string().trim().toLowerCase().email('A valid email address is required'),
  password: z.string().min(10, 'The password needs at least 10 characters').max(200),
  teamName: z.string().trim().min(1, 'A team name is required').max(100),
});
export type OwnerInput = z.infer<typeof ownerInput>;

export const teamIdInput = z.object({ teamId: z.string().uuid() });
