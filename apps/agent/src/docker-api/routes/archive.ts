/** `docker cp`: HEAD/GET/PUT /containers/{id}/archive. */
import type { ContainerStore } from '@berth/engine';
import { commonHeaders, type Handler, sendStatus } from '../context';
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
      ctx.signal.addEventListener('abort', () => stream.destroy(), { once: true });
      await new Promise<void>((resolve) => {
        stream.on('error', () => ctx.res.destroy());
        stream.pipe(ctx.res);
        ctx.res.once('close', resolve);
      });
    })
    .add('PUT', '/containers/{id}/archive', async (ctx) => {
      await store.extractArchive(ctx.params.id ?? '', pathParam(ctx.query), ctx.req);
      sendStatus(ctx, 200);
    });
}
