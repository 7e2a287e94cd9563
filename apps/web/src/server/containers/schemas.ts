import { z } from 'zod';

export const containerActionInput = z.object({
  teamId: z.string().uuid(),
  hostId: z.string().uuid(),
  containerId: z.string().regex(/^[0-9a-f]{64}$/),
  action: z.enum(['start', 'stop', 'restart', 'remove']),
});
export type ContainerActionInput = z.infer<typeof containerActionInput>;

const portSpec = /^(?:(?:\d{1,3}\.){3}\d{1,3}:)?(?:\d{1,5}:)?\d{1,5}(?:\/(?:tcp|udp))?$/;

export const deployInput = z.object({
  teamId: z.string().uuid(),
  hostId: z.string().uuid(),
  image: z.string().trim().min(1, 'An image is required').max(1024),
  name: z
    .string()
    .trim()
    .regex(/^([a-zA-Z0-9][a-zA-Z0-9_.-]+)?$/, 'Names use letters, digits, _ . and -')
    .max(255)
    .optional(),
  ports: z
    .array(z.string().trim().regex(portSpec, 'Ports look like 8080:80 or 127.0.0.1:8080:80/tcp'))
    .max(64)
    .default([]),
  env: z
    .array(
      z
        .string()
        .trim()
        .regex(/^[^=\s]+=/, 'Environment entries look like KEY=value'),
    )
    .max(256)
    .default([]),
  restartPolicy: z.enum(['no', 'always', 'unless-stopped', 'on-failure']).default('no'),
  /** Arguments after the image, as with `docker run IMAGE ARG…`; none keeps the image's command. */
  cmd: z.array(z.string().max(65536)).max(256).optional(),
  network: z
    .string()
    .trim()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'Network names use letters, digits, _ . and -')
    .max(255)
    .optional(),
});
export type DeployInput = z.infer<typeof deployInput>;

export const logsInput = z.object({
  teamId: z.string().uuid(),
  hostId: z.string().uuid(),
  containerId: z.string().regex(/^[0-9a-f]{64}$/),
  tail: z.coerce.number().int().min(0).max(10_000).default(200),
});
export type LogsInput = z.infer<typeof logsInput>;
