import type { Readable } from 'node:stream';
import type { ImageContainerConfig, Platform } from './oci';
import type { RegistryCredentials } from './registry';

/** One line of `docker pull`'s JSON progress stream, so the Docker API can forward it unchanged. */
export interface PullProgress {
  status: string; // Pulling fs layer, Waiting, Downloading, Verifying Checksum, Download complete, Extracting…
  id?: string; // 12-hex short layer digest, or the tag for the opening line
  progressDetail?: { current: number; total: number };
}

export interface PullOptions {
  platform?: Partial<Platform> | string; // "linux/arm64/v8" or { os, architecture, variant }
  credentials?: RegistryCredentials;
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

export interface PushOptions {
  credentials?: RegistryCredentials;
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

export interface RemoveOptions {
  force?: boolean;
}

/** `docker images` row (GET /images/json). */
export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize: number;
  Labels: Record<string, string>;
  Containers: number;
}

/** `docker image inspect` (GET /images/{name}/json). */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  DockerVersion: string;
  Author: string;
  Config: ImageContainerConfig;
  Architecture: string;
  Variant?: string;
  Os: string;
  Size: number;
  VirtualSize: number;
  GraphDriver: { Name: string; Data: Record<string, string> };
  RootFS: { Type: 'layers'; Layers: string[] };
  Metadata: { LastTagTime: string };
}

/** What the container runtime needs from an image. */
export interface ResolvedImage {
  id: string;
  repoTags: string[];
  config: ImageContainerConfig;
  architecture: string;
  os: string;
}

/** One step of `docker history` (GET /images/{name}/history), newest first. */
export interface ImageHistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

/** What `docker commit` makes an image of. */
export interface CommitInput {
  /** The container's image (ID). */
  parent: string;
  /** The container's upper directory, read while the container is paused or stopped. */
  upperDir: string;
  /** The new image's container config (Cmd, Env, Entrypoint, …): the container's own, as dockerd takes it. */
  config: Record<string, unknown>;
  createdBy: string;
  comment?: string;
  author?: string;
  /** A reference to tag the image with (`repo:tag`). */
  tag?: string;
}

/** One name a `docker load` gave (or the image's ID, for an image the archive names none for). */
export interface LoadedImage {
  id: string;
  tag?: string;
}

export type RemoveResult = ({ Untagged: string } | { Deleted: string })[];

/** Tells the image store which containers use an image, so removal can refuse. Containers provide it. */
export type ImageUsage = (imageId: string) => string[];

export interface ImageService {
  pull(reference: string, options?: PullOptions): Promise<ImageInspect>;
  push(reference: string, options?: PushOptions): Promise<{ digest: string; size: number }>;
  list(options?: { all?: boolean; dangling?: boolean }): ImageSummary[];
  inspect(refOrId: string): Promise<ImageInspect>;
  history(refOrId: string): Promise<ImageHistoryItem[]>;
  commit(input: CommitInput): Promise<string>;
  /** `docker import`: a root filesystem tarball as a one-layer image. */
  importRootfs(source: Readable, options?: { tag?: string; message?: string }): Promise<string>;
  get(refOrId: string): Promise<ResolvedImage>;
  snapshotDirs(imageId: string): string[];
  tag(source: string, target: string): Promise<void>;
  remove(refOrId: string, options?: RemoveOptions): Promise<RemoveResult>;
  prune(): Promise<{ ImagesDeleted: RemoveResult; SpaceReclaimed: number }>;
  /** `docker save`: a tar stream of the images. */
  save(refs: string[]): Promise<Readable>;
  /** `docker load`: imports an archive's images. */
  load(archive: Readable, options?: { signal?: AbortSignal }): Promise<LoadedImage[]>;
  setUsage(usage: ImageUsage): void;
}
