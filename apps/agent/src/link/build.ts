/**
 * Builds the control plane asks for: the context arrives first as numbered pieces (`build.context`) written
 * into an upload file under the data root, then `image.build` unpacks it into a fresh context directory and
 * runs the engine's builder, reporting each step as a progress event, and pushes the tags when asked.
 * Uploads nobody builds from are removed after an hour.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildEvent, Engine, RegistryCredentials } from '@berth/engine';
import { EngineError } from '@berth/engine';
import type { z } from 'zod';
import {
  BUILD_CONTEXT_MAX_BYTES,
  type buildContextCommandSchema,
  type imageBuildCommandSchema,
} from '../protocol/messages';

const uploadTtlMs = 60 * 60_000;
/** One progress event carries at most this much of a RUN's output; longer chunks are cut into several. */
const outputEventBytes = 16 * 1024;

/** Progress events of a build as the link sends them; `id` is unique so relays that coalesce keep each one. */
export type BuildProgressEvent =
  | (BuildEvent & { id: string })
  | { id: string; type: 'push'; tag: string; status: string; layer?: string };

export class BuildUploads {
  readonly #dir: string;

  constructor(dataRoot: string) {
    this.#dir = join(dataRoot, 'build', 'uploads');
  }

  path(uploadId: string): string {
    return join(this.#dir, `${uploadId}.ctx`);
  }

  /** Writes one piece at its offset (pieces may come out of order); refuses a context over the limit. */
  async write(command: z.infer<typeof buildContextCommandSchema>): Promise<{ received: number }> {
    const data = Buffer.from(command.data, 'base64');
    if (command.offset + data.length > BUILD_CONTEXT_MAX_BYTES)
      throw new EngineError(
        'too_large',
        `the build context is over ${BUILD_CONTEXT_MAX_BYTES / 1024 / 1024} MiB; leave big files out with a .dockerignore or build on the host`,
      );
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    if (command.offset === 0) await this.#sweep();
    const file = await open(this.path(command.uploadId), constants.O_WRONLY | constants.O_CREAT, 0o600);
    try {
      await file.write(data, 0, data.length, command.offset);
    } finally {
      await file.close();
    }
    return { received: command.offset + data.length };
  }

  async #sweep(): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.#dir).catch(() => [] as string[])) {
      const path = join(this.#dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > uploadTtlMs) await rm(path, { force: true });
    }
  }
}

/** Unpacks an uploaded tar (plain or compressed: GNU tar detects it) into `dir`. */
async function extract(file: string, dir: string): Promise<void> {
  // GNU tar drops leading slashes, refuses `..` members and defers symlinks pointing outside until the end.
  const child = spawn('tar', ['-x', '--no-same-owner', '-C', dir, '-f', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2000) stderr += d;
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0)
    throw new EngineError(
      'invalid_argument',
      `the build context is not a valid tar archive (.tar or .tar.gz): ${stderr.trim()}`,
    );
}

export async function runBuild(
  engine: Engine,
  uploads: BuildUploads,
  command: z.infer<typeof imageBuildCommandSchema>,
  progress: (update: Record<string, unknown>) => void,
  signal?: AbortSignal,
): Promise<{ id: string; tags: string[]; pushed: Array<{ tag: string; digest: string }> }> {
  let seq = 0;
  const emit = (event: Record<string, unknown>) => progress({ ...event, id: `build-${seq++}` });
  const credentials: Record<string, RegistryCredentials> = command.auth
    ? {
        [command.auth.serverAddress]: { username: command.auth.username, password: command.auth.password },
      }
    : {};
  const dir = await engine.builder.contextDir();
  try {
    if (command.uploadId) {
      const file = uploads.path(command.uploadId);
      if (!(await stat(file).catch(() => undefined)))
        throw new EngineError(
          'not_found',
          'the uploaded build context is gone (over an hour old?); upload it again',
        );
      try {
        await extract(file, dir);
      } finally {
        await rm(file, { force: true });
      }
    }
    const result = await engine.builder.build({
      context: dir,
      dockerfileText: command.dockerfile,
      tags: command.tags,
      buildArgs: command.buildArgs,
      ...(command.target ? { target: command.target } : {}),
      noCache: command.noCache,
      pull: command.pull,
      ...(command.network !== 'default' ? { network: command.network } : {}),
      credentials,
      ...(signal ? { signal } : {}),
      onEvent: (event) => {
        if (event.type !== 'output') return emit(event);
        for (let i = 0; i < event.text.length; i += outputEventBytes)
          emit({ type: 'output', text: event.text.slice(i, i + outputEventBytes) });
      },
    });
    const pushed: Array<{ tag: string; digest: string }> = [];
    if (command.push) {
      for (const tag of result.tags) {
        const auth = command.auth
          ? { credentials: { username: command.auth.username, password: command.auth.password } }
          : {};
        const { digest } = await engine.images.push(tag, {
          ...auth,
          ...(signal ? { signal } : {}),
          onProgress: (p) => emit({ type: 'push', tag, status: p.status, ...(p.id ? { layer: p.id } : {}) }),
        });
        pushed.push({ tag, digest });
      }
    }
    return { id: result.id, tags: result.tags, pushed };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
