import { BUILD_CONTEXT_MAX_BYTES } from '@berth/agent/protocol/messages';
import { z } from 'zod';
import { operationStates } from '../operations/schemas';

export { BUILD_CONTEXT_MAX_BYTES };

/** An image name with an optional tag, as `docker build -t` takes it (no digest). */
const tag = z
  .string()
  .trim()
  .min(1)
  .max(255)
  // The agent parses it exactly (lower-case repository, tag of letters, digits, _ . -).
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._:/-]*$/, 'a tag such as app:1 or registry.example:5000/team/app:2');

/** Where an uploaded context goes: POST /api/images/build-context?teamId&hostId with the tar as the body. */
export const buildContextQuery = z.object({ teamId: z.uuid(), hostId: z.uuid() });
export type BuildContextQuery = z.infer<typeof buildContextQuery>;
export const buildContextOutput = z.object({ uploadId: z.uuid(), bytes: z.number().int() });

export const imageBuildInput = z.object({
  teamId: z.uuid(),
  hostId: z.uuid(),
  /** From POST /api/images/build-context; without one the context is empty (a Dockerfile alone). */
  uploadId: z.uuid().optional(),
  dockerfile: z.string().min(1, 'Give a Dockerfile.').max(1_048_576),
  tags: z.array(tag).max(32).default([]),
  buildArgs: z
    .array(
      z.object({
        name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a build arg name such as VERSION'),
        value: z.string().max(65_536),
      }),
    )
    .max(100)
    .default([]),
  target: z
    .string()
    .trim()
    .max(255)
    .regex(/^([a-zA-Z][a-zA-Z0-9-_.]*)?$/, 'a stage name')
    .optional(),
  noCache: z.boolean().default(false),
  pull: z.boolean().default(false),
  /** Network of the RUN steps: the host's default bridge (as Docker), none, or the host's. */
  network: z.enum(['default', 'none', 'host']).default('default'),
  /** Push every tag once built, with the team's credentials for the tags' registry. */
  push: z.boolean().default(false),
});
export type ImageBuildInput = z.infer<typeof imageBuildInput>;
export const imageBuildOutput = z.object({ operationId: z.uuid() });

export const buildStatusInput = z.object({ teamId: z.uuid(), operationId: z.uuid() });
export type BuildStatusInput = z.infer<typeof buildStatusInput>;

export const buildStepSchema = z.object({
  step: z.number().int(),
  total: z.number().int(),
  instruction: z.string(),
  /** Whether the step was taken from the build cache; null while not known yet (or for FROM and ARG). */
  cached: z.boolean().nullable(),
  /** The RUN's output (its tail when long). */
  output: z.string(),
  outputTruncated: z.boolean(),
});

/** A build's progress as kept on its operation row. */
export const buildProgressSchema = z.object({
  kind: z.literal('build'),
  steps: z.array(buildStepSchema),
  failure: z.object({ exitCode: z.number().int(), command: z.string() }).nullable(),
  push: z.array(z.object({ tag: z.string(), status: z.string() })),
});
export type BuildProgressDoc = z.infer<typeof buildProgressSchema>;

export const buildResultSchema = z.object({
  id: z.string(),
  tags: z.array(z.string()),
  pushed: z.array(z.object({ tag: z.string(), digest: z.string() })),
});

export const buildStatusOutput = z.object({
  operationId: z.string(),
  hostId: z.string(),
  hostName: z.string().nullable(),
  state: z.enum(operationStates),
  error: z.string().nullable(),
  tags: z.array(z.string()),
  push: z.boolean(),
  progress: buildProgressSchema.nullable(),
  result: buildResultSchema.nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type BuildStatus = z.infer<typeof buildStatusOutput>;
