import { z } from 'zod';

export const ownerInput = z.object({
  name: z.string().trim().min(1, 'Your name is required').max(100),
  email: z.string().trim().toLowerCase().email('A valid email address is required'),
  password: z.string().min(10, 'The password needs at least 10 characters').max(200),
  teamName: z.string().trim().min(1, 'A team name is required').max(100),
});
export type OwnerInput = z.infer<typeof ownerInput>;

export const teamIdInput = z.object({ teamId: z.string().uuid() });

const role = z.enum(['owner', 'admin', 'operator', 'viewer']);

export const teamCreateInput = z.object({
  name: z.string().trim().min(1, 'A team name is required').max(100),
});

export const inviteInput = z.object({
  teamId: z.string().uuid(),
  role,
  /** How long the link works: an hour to 30 days; 3 days unless said. */
  expiresInHours: z.number().int().min(1).max(720).default(72),
});

export const invitationIdInput = z.object({ teamId: z.string().uuid(), invitationId: z.string().uuid() });

export const memberInput = z.object({ teamId: z.string().uuid(), userId: z.string().min(1).max(64) });
export const setRoleInput = memberInput.extend({ role });

/** The secret of an invitation link (base64url of 32 random bytes). */
export const invitationToken = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'This invitation link is not valid.');

export const invitationSignUpInput = z.object({
  token: invitationToken,
  name: z.string().trim().min(1, 'Your name is required').max(100),
  email: z.string().trim().toLowerCase().email('A valid email address is required'),
  password: z.string().min(10, 'The password needs at least 10 characters').max(200),
});
export type InvitationSignUpInput = z.infer<typeof invitationSignUpInput>;

export const memberSchema = z.object({
  userId: z.string(),
  name: z.string(),
  email: z.string(),
  role,
  joinedAt: z.string(),
});
export type Member = z.infer<typeof memberSchema>;

export const invitationSchema = z.object({
  id: z.string(),
  role,
  createdAt: z.string(),
  expiresAt: z.string(),
  expired: z.boolean(),
});
export type PendingInvitation = z.infer<typeof invitationSchema>;
