import { z } from 'zod';
import { layoutSchema } from './layout';

const fingerprint = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'a SHA256 fingerprint as OpenSSH prints it');

export const sshAddressInput = z.object({
  teamId: z.string().uuid(),
  // A host name, IPv4 or IPv6 address: handed to ssh2 as data, never to a shell.
  host: z
    .string()
    .trim()
    .min(1, 'An address is required')
    .max(253)
    .regex(/^[A-Za-z0-9.:-]+$/, 'An address is a host name or an IP address'),
  port: z.coerce.number().int().min(1).max(65535).default(22),
});

export const sshInstallInput = sshAddressInput.extend({
  username: z.string().trim().min(1, 'A user name is required').max(64),
  privateKey: z.string().max(16_384).optional(),
  passphrase: z.string().max(1024).optional(),
  password: z.string().max(1024).optional(),
  sudoPassword: z.string().max(1024).optional(),
  /** The fingerprint the admin saw and confirmed (from probe); the connection must present it. */
  fingerprint,
  allowPackages: z.boolean().default(false),
  /** Where to install; the defaults are /opt/berth, /var/lib/berth and /run/berth/docker.sock. */
  layout: layoutSchema.partial().optional(),
});
export type SshInstallInput = z.infer<typeof sshInstallInput>;

export const sshUninstallInput = sshInstallInput
  .omit({ allowPackages: true })
  .extend({ removeContainers: z.boolean().default(false) });
export type SshUninstallInput = z.infer<typeof sshUninstallInput>;

export const sshRunInput = z.object({ teamId: z.string().uuid(), id: z.string().uuid() });
