import { z } from 'zod';

export const mediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const manifestAccept = [
  mediaTypes.ociIndex,
  mediaTypes.ociManifest,
  mediaTypes.dockerList,
  mediaTypes.dockerManifest,
].join(', ');

export const refNameAnnotation = 'org.opencontainers.image.ref.name';

/** Manifests and configs are small; anything bigger is hostile or broken (Docker uses the same 4 MiB cap). */
export const maxManifestBytes = 4 * 1024 * 1024;
export const maxConfigBytes = 8 * 1024 * 1024;

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'only sha256 digests are supported');

export const platformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
});
export type Platform = z.infer<typeof platformSchema>;

export const descriptorSchema = z.object({
  mediaType: z.string(),
  digest,
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: platformSchema.optional(),
  urls: z.array(z.string()).optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

export const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ImageIndex = z.infer<typeof indexSchema>;

const containerConfigSchema = z
  .object({
    User: z.string().optional(),
    ExposedPorts: z.record(z.string(), z.object({}).passthrough()).nullish(),
    Env: z.array(z.string()).nullish(),
    Entrypoint: z.array(z.string()).nullish(),
    Cmd: z.array(z.string()).nullish(),
    Volumes: z.record(z.string(), z.object({}).passthrough()).nullish(),
    WorkingDir: z.string().optional(),
    Labels: z.record(z.string(), z.string()).nullish(),
    StopSignal: z.string().optional(),
  })
  .passthrough();
export type ImageContainerConfig = z.infer<typeof containerConfigSchema>;

export const imageConfigSchema = z
  .object({
    created: z.string().optional(),
    author: z.string().optional(),
    architecture: z.string(),
    os: z.string(),
    variant: z.string().optional(),
    config: containerConfigSchema.nullish(),
    rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digest) }),
    history: z.array(z.object({}).passthrough()).optional(),
  })
  .passthrough();
export type ImageConfig = z.infer<typeof imageConfigSchema>;

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === mediaTypes.ociIndex || mediaType === mediaTypes.dockerList;
}

export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === mediaTypes.ociManifest || mediaType === mediaTypes.dockerManifest;
}
