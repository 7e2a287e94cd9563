/** `docker cp`: HEAD/GET/PUT /containers/{id}/archive; `docker export`: GET /containers/{id}/export. */
import type { Readable } from 'node:stream';
import type { ContainerStore } from '@berth/engine';
import { commonHeaders, type Handler, type RequestContext, sendStatus } from '../context';
import { ApiError } from '../errors';
import type { Router } from '../router';

export interface ArchiveDeps {
  containerStore: ContainerStore;
}

function pathParam(query: URLSearchParams): string {
  const path = query.get('path');
  if (!path) throw new ApiError(400, 'path cannot be empty');
  return path;
}

function statHeader(stat: unknown): string {
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

/** Streams a tar to the client; a failure midway can only cut the connection (the client sees a short tar). */
async function pipeTar(ctx: RequestContext, stream: Readable): Promise<void> {
  ctx.signal.addEventListener('abort', () => stream.destroy(), { once: true });
  await new Promise<void>((resolve) => {
    stream.on('error', () => ctx.res.destroy());
    stream.pipe(ctx.res);
    ctx.res.once('close', resolve);
  });
}

export function registerArchiveRoutes(router: Router<Handler>, deps: ArchiveDeps): void {
  const store = deps.containerStore;
  router
    .add('HEAD', '/containers/{id}/archive', async (ctx) => {
      const stat = await store.statPath(ctx.params.id ?? '', pathParam(ctx.query));
      ctx.res.writeHead(200, { ...commonHeaders(), 'X-Docker-Container-Path-Stat': statHeader(stat) });
      ctx.res.end();
    })
    .add('GET', '/containers/{id}/archive', async (ctx) => {
      const { stat, stream } = await store.archive(ctx.params.id ?? '', pathParam(ctx.query));
      ctx.res.writeHead(200, {
        ...commonHeaders(),
        'Content-Type': 'application/x-tar',
        'X-Docker-Container-Path-Stat': statHeader(stat),
      });
      await pipeTar(ctx, stream);
    })
    .add('GET', '/containers/{id}/export', async (ctx) => {
      const stream = await store.export(ctx.params.id ?? '');
      ctx.res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/x-tar' });
      await pipeTar(ctx, stream);
    })
    .add('PUT', '/containers/{id}/archive', async (ctx) => {
      await store.extractArchive(ctx.params.id ?? '', pathParam(ctx.query), ctx.req);
      sendStatus(ctx, 200);
    });
}
