/** `docker system df` and the build-cache prune (`docker builder prune`, `docker system prune`). */
import type { Builder, ContainerStore, ImageService, VolumeStore } from '@berth/engine';
import { type Handler, sendJson } from '../context';
import type { Router } from '../router';

export interface DiskDeps {
  images: ImageService;
  containerStore: ContainerStore;
  volumes: VolumeStore;
  builder?: Builder;
}

export function registerDiskRoutes(router: Router<Handler>, deps: DiskDeps): void {
  router
    .add('GET', '/system/df', async (ctx) => {
      const containers = await deps.containerStore.diskUsage();
      const images = deps.images.list({ all: true }).map((image) => ({
        ...image,
        Containers: containers.filter((c) => c.ImageID === image.Id).length,
      }));
      sendJson(ctx, 200, {
        LayersSize: images.reduce((sum, image) => sum + image.Size, 0),
        Images: images,
        Containers: containers,
        Volumes: await deps.volumes.usage(),
        // Cached steps whose layer an image also holds are listed as shared: the store counts those bytes.
        BuildCache: deps.builder ? await deps.builder.cacheEntries() : [],
      });
    })
    .add('POST', '/build/prune', async (ctx) => {
      sendJson(
        ctx,
        200,
        deps.builder ? await deps.builder.prune() : { CachesDeleted: [], SpaceReclaimed: 0 },
      );
    });
}
