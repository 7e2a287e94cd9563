/** `docker network create/ls/inspect/connect/disconnect/rm/prune`. */
import type { ContainerStore, NetworkManager } from '@berth/engine';
import { z } from 'zod';
import { filtersParam, type Handler, readJson, sendJson, sendStatus } from '../context';
import type { Router } from '../router';

export interface NetworkDeps {
  networks: NetworkManager;
  containerStore: ContainerStore;
}

const createBody = z.looseObject({
  Name: z.string().min(1, 'network name is required'),
  Driver: z.string().optional(),
  Internal: z.boolean().optional(),
  Labels: z.record(z.string(), z.string()).nullish(),
  Options: z.record(z.string(), z.string()).nullish(),
  IPAM: z
    .looseObject({
      Config: z
        .array(z.looseObject({ Subnet: z.string().optional(), Gateway: z.string().optional() }))
        .nullish(),
    })
    .nullish(),
});

const connectBody = z.looseObject({
  Container: z.string().min(1),
  EndpointConfig: z
    .looseObject({
      Aliases: z.array(z.string()).nullish(),
      IPAMConfig: z.looseObject({ IPv4Address: z.string().optional() }).nullish(),
    })
    .nullish(),
});

const disconnectBody = z.looseObject({ Container: z.string().min(1), Force: z.boolean().optional() });

export function registerNetworkRoutes(router: Router<Handler>, deps: NetworkDeps): void {
  router
    .add('GET', '/networks', async (ctx) => {
      sendJson(ctx, 200, await deps.networks.list(filtersParam(ctx.query)));
    })
    .add('POST', '/networks/create', async (ctx) => {
      const body = await readJson(ctx, createBody);
      sendJson(
        ctx,
        201,
        await deps.networks.create({
          Name: body.Name,
          ...(body.Driver ? { Driver: body.Driver } : {}),
          ...(body.Internal !== undefined ? { Internal: body.Internal } : {}),
          Labels: body.Labels ?? null,
          Options: body.Options ?? null,
          IPAM: body.IPAM ? { Config: body.IPAM.Config ?? null } : null,
        }),
      );
    })
    .add('POST', '/networks/prune', async (ctx) => {
      sendJson(ctx, 200, await deps.networks.prune(filtersParam(ctx.query)));
    })
    .add('GET', '/networks/{id}', async (ctx) => {
      sendJson(ctx, 200, await deps.networks.inspect(ctx.params.id ?? ''));
    })
    .add('DELETE', '/networks/{id}', async (ctx) => {
      await deps.networks.remove(ctx.params.id ?? '');
      sendStatus(ctx, 204);
    })
    .add('POST', '/networks/{id}/connect', async (ctx) => {
      const body = await readJson(ctx, connectBody);
      const ipv4 = body.EndpointConfig?.IPAMConfig?.IPv4Address;
      await deps.containerStore.connectNetwork(body.Container, ctx.params.id ?? '', {
        aliases: body.EndpointConfig?.Aliases ?? [],
        ...(ipv4 ? { ipv4Address: ipv4 } : {}),
      });
      sendStatus(ctx, 200);
    })
    .add('POST', '/networks/{id}/disconnect', async (ctx) => {
      const body = await readJson(ctx, disconnectBody);
      await deps.containerStore.disconnectNetwork(body.Container, ctx.params.id ?? '');
      sendStatus(ctx, 200);
    });
}
