import { z } from 'zod';

export const imageListInput = z.object({
  teamId: z.string().uuid(),
  /** Matched (case-insensitive, substring) against the image's tags, its id and its host's name. */
  search: z.string().trim().max(256).default(''),
  hostId: z.string().uuid().optional(),
  sort: z.enum(['tag', 'host', 'size', 'created']).default('tag'),
  direction: z.enum(['asc', 'desc']).default('asc'),
  page: z.number().int().min(1).max(100_000).default(1),
  pageSize: z.number().int().min(1).max(200).default(50),
});
export type ImageListInput = z.infer<typeof imageListInput>;

export const fleetImageSchema = z.object({
  hostId: z.string(),
  hostName: z.string(),
  imageId: z.string(),
  repoTags: z.array(z.string()),
  size: z.number(),
  created: z.number(),
  /** Containers on that host (any state) made from this image: a remove without force fails while any exist. */
  containers: z.number().int(),
  stale: z.boolean(),
});
export type FleetImage = z.infer<typeof fleetImageSchema>;

export const imageListOutput = z.object({
  rows: z.array(fleetImageSchema),
  total: z.number().int(),
  page: z.number().int(),
  pageSize: z.number().int(),
});
export type ImageList = z.infer<typeof imageListOutput>;

export const imageRemoveInput = z.object({
  teamId: z.string().uuid(),
  hostId: z.string().uuid(),
  imageId: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  force: z.boolean().default(false),
});
export type ImageRemoveInput = z.infer<typeof imageRemoveInput>;

/** `docker pull` on one or many hosts of the team, each followed as an operation with per-layer progress. */
export const imagePullInput = z.object({
  teamId: z.string().uuid(),
  // A Docker reference: [registry[:port]/]path[:tag][@sha256:…]; the agent parses it exactly.
  reference: z
    .string()
    .trim()
    .min(1)
    .max(1024)
    .regex(
      /^[a-zA-Z0-9][a-zA-Z0-9._:/@-]*$/,
      'an image reference such as busybox:1.36 or registry:5000/app:2',
    ),
  hostIds: z.array(z.string().uuid()).min(1).max(100),
});
export type ImagePullInput = z.infer<typeof imagePullInput>;
export const imagePullOutput = z.object({
  operations: z.array(z.object({ hostId: z.string(), operationId: z.string() })),
});
