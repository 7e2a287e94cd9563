/**
 * Image endpoints: pull, list, inspect, history, tag, remove, prune, push, save, load. Each validates, maps and
 * makes one call.
 */
import { EngineError } from '@berth/engine';
import type { ImageService } from '@berth/engine/images/types';
import { credentialsOf, decodeRegistryAuth } from '../auth';
import { boolParam, filtersParam, type Handler, type RequestContext, sendJson, sendStatus } from '../context';
import { ApiError } from '../errors';
import { ProgressStream } from '../progress';
import type { Router } from '../router';

export interface ImageDeps {
  images: ImageService;
}

/** `fromImage` + `tag` as the CLI splits them; a digest in `tag` means `name@digest`. */
export function joinReference(name: string, tag: string | null): string {
  if (!tag) return name;
  return tag.includes(':') ? `${name}@${tag}` : `${name}:${tag}`;
}

function pull(deps: ImageDeps): Handler {
  return async (ctx) => {
    const fromImage = ctx.query.get('fromImage');
    const fromSrc = ctx.query.get('fromSrc');
    if (fromSrc !== null) return importRootfs(deps, ctx, fromSrc);
    if (!fromImage) throw new ApiError(400, 'fromImage is required');
    const reference = joinReference(fromImage, ctx.query.get('tag'));
    const credentials = credentialsOf(decodeRegistryAuth(ctx.req.headers['x-registry-auth']));
    const platform = ctx.query.get('platform') || undefined;
    const progress = new ProgressStream(ctx, { hold: 1 });
    await progress.run(async () => {
      try {
        await deps.images.pull(reference, {
          credentials,
          platform,
          signal: ctx.signal,
          onProgress: (p) => progress.write(p),
        });
      } catch (error) {
        // dockerd answers a registry's refusal of a pull with 500, never 401: the CLI reads a 401 from the daemon
        // as "log in first" and prompts for a username, so `docker pull` or `run` without a terminal hung.
        if (error instanceof EngineError && error.code === 'unauthorized')
          throw new ApiError(500, error.message);
        throw error;
      }
    });
  };
}

/** `docker import`: the body is a root filesystem tarball (the CLI downloads a URL itself, then sends `-`). */
async function importRootfs(deps: ImageDeps, ctx: RequestContext, fromSrc: string): Promise<void> {
  if (fromSrc !== '-')
    throw new ApiError(
      501,
      'importing from a URL is not supported by Berth: download it, then import the file',
    );
  if (ctx.query.getAll('changes').some((c) => c.trim() !== ''))
    throw new ApiError(400, 'import --change is not supported by Berth');
  const repo = ctx.query.get('repo');
  const message = ctx.query.get('message');
  const progress = new ProgressStream(ctx);
  await progress.run(async () => {
    const id = await deps.images.importRootfs(ctx.req, {
      ...(repo ? { tag: joinReference(repo, ctx.query.get('tag')) } : {}),
      ...(message ? { message } : {}),
    });
    progress.write({ status: id });
  });
}

function push(deps: ImageDeps): Handler {
  return async (ctx) => {
    const name = ctx.params.name ?? '';
    const tag = ctx.query.get('tag');
    const reference = joinReference(name, tag);
    const credentials = credentialsOf(decodeRegistryAuth(ctx.req.headers['x-registry-auth']));
    const progress = new ProgressStream(ctx);
    await progress.run(async () => {
      const result = await deps.images.push(reference, {
        credentials,
        signal: ctx.signal,
        onProgress: (p) => progress.write(p),
      });
      const shown = tag || 'latest';
      progress.write({ status: `${shown}: digest: ${result.digest} size: ${result.size}` });
      progress.write({ progressDetail: {}, aux: { Tag: shown, Digest: result.digest, Size: result.size } });
    });
  };
}

/** `reference` filters take shell-style globs on `name[:tag]`, matched against each repo tag. */
function globToRegExp(pattern: string): RegExp {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${source}$`);
}

function list(deps: ImageDeps): Handler {
  return async (ctx) => {
    const filters = filtersParam(ctx.query);
    for (const key of Object.keys(filters))
      if (!['dangling', 'reference', 'label'].includes(key))
        throw new ApiError(400, `invalid filter '${key}'`);
    const dangling = filters.dangling?.[0];
    if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling))
      throw new ApiError(400, `invalid filter 'dangling=${dangling}'`);
    let rows = deps.images.list({
      all: boolParam(ctx.query, 'all'),
      dangling: dangling === undefined ? undefined : dangling === 'true' || dangling === '1',
    });
    const refs = filters.reference?.map(globToRegExp);
    if (refs?.length) {
      // dockerd narrows each row to the tags that matched, so `docker images` shows only those.
      const matches = (t: string) => refs.some((re) => re.test(t) || re.test(t.slice(0, t.lastIndexOf(':'))));
      const digestMatches = (d: string) =>
        refs.some((re) => re.test(d) || re.test(d.slice(0, d.indexOf('@'))));
      rows = rows
        .map((row) => ({
          ...row,
          RepoTags: row.RepoTags.filter(matches),
          RepoDigests: row.RepoDigests.filter(digestMatches),
        }))
        .filter((row) => row.RepoTags.length > 0 || row.RepoDigests.length > 0);
    }
    for (const label of filters.label ?? []) {
      const eq = label.indexOf('=');
      rows = rows.filter((row) =>
        eq === -1 ? label in row.Labels : row.Labels[label.slice(0, eq)] === label.slice(eq + 1),
      );
    }
    sendJson(ctx, 200, rows);
  };
}

function inspect(deps: ImageDeps): Handler {
  return async (ctx) => {
    sendJson(ctx, 200, await deps.images.inspect(ctx.params.name ?? ''));
  };
}

function history(deps: ImageDeps): Handler {
  return async (ctx) => {
    sendJson(ctx, 200, await deps.images.history(ctx.params.name ?? ''));
  };
}

function tag(deps: ImageDeps): Handler {
  return async (ctx) => {
    const repo = ctx.query.get('repo');
    if (!repo) throw new ApiError(400, 'repository name must have at least one component');
    await deps.images.tag(ctx.params.name ?? '', joinReference(repo, ctx.query.get('tag') || 'latest'));
    sendStatus(ctx, 201);
  };
}

function remove(deps: ImageDeps): Handler {
  return async (ctx) => {
    const result = await deps.images.remove(ctx.params.name ?? '', { force: boolParam(ctx.query, 'force') });
    sendJson(ctx, 200, result);
  };
}

function prune(deps: ImageDeps): Handler {
  return async (ctx) => {
    const filters = filtersParam(ctx.query);
    const dangling = filters.dangling?.[0];
    if (dangling === 'false' || dangling === '0')
      throw new ApiError(501, 'pruning images that are not dangling is not supported by Berth');
    for (const key of Object.keys(filters))
      if (key !== 'dangling') throw new ApiError(400, `invalid filter '${key}'`);
    const result = await deps.images.prune();
    sendJson(ctx, 200, {
      ImagesDeleted: result.ImagesDeleted.length ? result.ImagesDeleted : null,
      SpaceReclaimed: result.SpaceReclaimed,
    });
  };
}

/** `docker save`: GET /images/{name}/get, or GET /images/get?names=…&names=… for several. */
function save(deps: ImageDeps): Handler {
  return async (ctx) => {
    const names = ctx.params.name ? [ctx.params.name] : ctx.query.getAll('names');
    if (names.length === 0) throw new ApiError(400, 'names is required');
    const archive = await deps.images.save(names);
    ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    ctx.signal.addEventListener('abort', () => archive.destroy(), { once: true });
    await new Promise<void>((resolve) => {
      // A failure mid-archive cannot be told in-band: the connection is cut, so the client sees a short tar.
      archive.on('error', (error) => {
        ctx.log.error({ err: error }, 'image save failed');
        ctx.res.destroy();
      });
      archive.pipe(ctx.res);
      ctx.res.once('close', resolve);
    });
  };
}

/** `docker load`: the body is the archive; the reply is dockerd's JSON stream of "Loaded image" lines. */
function load(deps: ImageDeps): Handler {
  return async (ctx) => {
    const progress = new ProgressStream(ctx);
    await progress.run(async () => {
      const loaded = await deps.images.load(ctx.req, { signal: ctx.signal });
      for (const image of loaded)
        progress.write({
          stream: image.tag ? `Loaded image: ${image.tag}\n` : `Loaded image ID: ${image.id}\n`,
        });
    });
  };
}

export function registerImageRoutes(router: Router<Handler>, deps: ImageDeps): void {
  router
    .add('POST', '/images/create', pull(deps))
    .add('GET', '/images/json', list(deps))
    .add('POST', '/images/prune', prune(deps))
    .add('GET', '/images/get', save(deps))
    .add('POST', '/images/load', load(deps))
    .add('GET', '/images/{name*}/get', save(deps))
    .add('GET', '/images/{name*}/json', inspect(deps))
    .add('GET', '/images/{name*}/history', history(deps))
    .add('POST', '/images/{name*}/tag', tag(deps))
    .add('POST', '/images/{name*}/push', push(deps))
    .add('DELETE', '/images/{name*}', remove(deps));
}
