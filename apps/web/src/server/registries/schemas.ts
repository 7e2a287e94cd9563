import { z } from 'zod';

export const registrySaveInput = z.object({
  teamId: z.string().uuid(),
  // A registry host as in image references: `registry.example.com`, `10.0.0.5:5000`, `docker.io`.
  serverAddress: z
    .string()
    .trim()
    .toLowerCase()
    .regex(
      /^[a-z0-9.-]+(:\d{1,5})?$/,
      'A registry is a host name with an optional port, like registry.example.com:5000',
    ),
  username: z.string().trim().min(1, 'A user name is required').max(255),
  password: z.string().min(1, 'A password or token is required').max(8192),
});
export type RegistrySaveInput = z.infer<typeof registrySaveInput>;

export const registryRemoveInput = z.object({ teamId: z.string().uuid(), id: z.string().uuid() });
