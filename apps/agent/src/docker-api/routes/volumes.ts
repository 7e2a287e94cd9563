/** `docker volume create/ls/inspect/rm/prune`. */
import type { VolumeStore } from '@berth/engine';
import { z } from 'zod';
import { boolParam, filtersParam, type Handler, readJson, sendJson, sendStatus } from '../context';
import type { Router } from '../router';

export interface VolumeDeps {
  volumes: VolumeStore;
}

const createBody = z.looseObject({
  Name: z.string().optional(),
  Driver: z.string().optional(),
  DriverOpts: z.record(z.string(), z.string()).nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
});

export function registerVolumeRoutes(router: Router<Handler>, deps: VolumeDeps): void {
  router
    .add('GET', '/volumes', async (ctx) => {
      sendJson(ctx, 200, { Volumes: deps.volumes.list(filtersParam(ctx.query)), Warnings: [] });
    })
    .add('POST', '/volumes/create', async (ctx) => {
      const body = (await readJson(ctx, createBody.optional())) ?? {};
      sendJson(
        ctx,
        201,
        await deps.volumes.create({
          ...(body.Name ? { Name: body.Name } : {}),
          ...(body.Driver ? { Driver: body.Driver } : {}),
          Labels: body.Labels ?? null,
          DriverOpts: body.DriverOpts ?? null,
        }),
      );
    })
    .add('POST', '/volumes/prune', async (ctx) => {
      const filters = filtersParam(ctx.query);
      // Before API 1.42 a prune removed every unused volume; since then only anonymous ones unless all=true.
      const [major = 1, minor = 0] = ctx.apiVersion.split('.').map(Number);
      if (major === 1 && minor < 42) filters.all = ['true'];
      sendJson(ctx, 200, await deps.volumes.prune(filters));
    })
    .add('GET', '/volumes/{name}', async (ctx) => {
      sendJson(ctx, 200, deps.volumes.inspect(ctx.params.name ?? ''));
    })
    .add('DELETE', '/volumes/{name}', async (ctx) => {
      await deps.volumes.remove(ctx.params.name ?? '', { force: boolParam(ctx.query, 'force') });
      sendStatus(ctx, 204);
    });
}
