/**
 * `POST /build` as dockerd's classic builder serves it (the CLI with DOCKER_BUILDKIT=0): the body is the
 * context as a tar (plain, gzip, bzip2 or xz), the answer a JSON stream of `{"stream": "Step 1/6 : …"}`
 * lines, `{"aux":{"ID":…}}` for the image, and `{"errorDetail":…}` when a step fails after output began.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Builder, RegistryCredentials } from '@berth/engine';
import { z } from 'zod';
import { authConfigSchema, credentialsOf } from '../auth';
import { boolParam, type Handler, type RequestContext } from '../context';
import { ApiError } from '../errors';
import { ProgressStream } from '../progress';
import type { Router } from '../router';

export interface BuildDeps {
  builder: Builder;
}

const stringMapSchema = z.record(z.string(), z.string().nullable());

function jsonParam(ctx: RequestContext, name: string): Record<string, string> {
  const text = ctx.query.get(name);
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, `invalid JSON in ${name}`);
  }
  const parsed = stringMapSchema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, `${name} must be a JSON object of strings`);
  // `--build-arg NAME` without a value arrives as null: the CLI found no such variable to pass on.
  return Object.fromEntries(Object.entries(parsed.data).filter((e): e is [string, string] => e[1] !== null));
}

/** `X-Registry-Config`: base64url JSON of AuthConfigs per registry, for the FROM images a build pulls. */
function registryConfig(header: string | string[] | undefined): Record<string, RegistryCredentials> {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return {};
  try {
    const parsed = z
      .record(z.string(), authConfigSchema)
      .safeParse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
    if (!parsed.success) return {};
    const out: Record<string, RegistryCredentials> = {};
    for (const [server, config] of Object.entries(parsed.data)) {
      const credentials = credentialsOf(config);
      if (!credentials) continue;
      const domain = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
      out[domain === 'index.docker.io' ? 'docker.io' : domain] = credentials;
    }
    return out;
  } catch {
    return {}; // as with X-Registry-Auth: a broken header means anonymous pulls
  }
}

/**
 * Unpacks the request body into `dir` with GNU tar (four times faster here than unpacking in Node), the
 * compression picked from the first bytes.
 */
async function extractContext(ctx: RequestContext, dir: string): Promise<void> {
  const iterator = (ctx.req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return; // an empty body: an empty context
  const head = first.value;
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  const bzip2 = head.toString('latin1', 0, 3) === 'BZh';
  const xz = head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  const plain = !gzip && !bzip2 && !xz;
  const body = Readable.from(
    (async function* () {
      let size = head.length;
      yield head;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        size += next.value.length;
        yield next.value;
      }
      // The CLI's tar of a context with a Dockerfile from elsewhere ends right after the last entry's data,
      // without padding or end-of-archive blocks; Go's reader takes that as the end, so the padding and
      // end blocks are supplied here (extra zero blocks after a complete archive are ignored).
      if (plain) yield Buffer.alloc(((512 - (size % 512)) % 512) + 1024);
    })(),
  );
  const flag = gzip ? ['-z'] : bzip2 ? ['-j'] : xz ? ['-J'] : [];
  // GNU tar extracts symlinks that point outside (absolute or with ..) only at the end, as placeholders
  // until then, so no entry is written through one; it drops leading slashes and refuses .. members.
  const child = spawn('tar', ['-x', ...flag, '--no-same-owner', '-C', dir, '-f', '-'], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2000) stderr += d;
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  await pipeline(body, child.stdin).catch(() => undefined); // tar exiting early is reported by its status
  const code = await exited;
  if (code !== 0) throw new ApiError(400, `the build context is not a valid tar archive: ${stderr.trim()}`);
}

function build(deps: BuildDeps): Handler {
  return async (ctx) => {
    const version = ctx.query.get('version');
    if (version === '2')
      throw new ApiError(400, 'BuildKit is not supported by Berth: build with DOCKER_BUILDKIT=0');
    if (ctx.query.get('remote'))
      throw new ApiError(501, 'remote build contexts (git, URL) are not supported by Berth');
    const quiet = boolParam(ctx.query, 'q');
    const tags = ctx.query.getAll('t').filter(Boolean);
    const buildArgs = jsonParam(ctx, 'buildargs');
    const labels = jsonParam(ctx, 'labels');
    const network = ctx.query.get('networkmode') || undefined;
    const dir = await deps.builder.contextDir();
    try {
      await extractContext(ctx, dir);
      const progress = new ProgressStream(ctx);
      await progress.run(async () => {
        const result = await deps.builder.build({
          context: dir,
          dockerfile: ctx.query.get('dockerfile') || 'Dockerfile',
          tags,
          buildArgs,
          labels,
          ...(ctx.query.get('target') ? { target: ctx.query.get('target') as string } : {}),
          ...(ctx.query.get('platform') ? { platform: ctx.query.get('platform') as string } : {}),
          ...(network && network !== 'default' ? { network } : {}),
          noCache: boolParam(ctx.query, 'nocache'),
          pull: boolParam(ctx.query, 'pull'),
          credentials: registryConfig(ctx.req.headers['x-registry-config']),
          signal: ctx.signal,
          onProgress: (p) => {
            // Quiet builds show nothing but the result, as dockerd's `-q`.
            if (quiet && p.aux === undefined) return;
            progress.write(p);
          },
        });
        if (quiet) progress.write({ stream: `${result.id}\n` });
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

export function registerBuildRoutes(router: Router<Handler>, deps: BuildDeps): void {
  router.add('POST', '/build', build(deps));
}
