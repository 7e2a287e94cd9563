import type { Handler } from '../context';
import type { Router } from '../router';
import { registerArchiveRoutes } from './archive';
import { registerAuthRoutes } from './auth';
import { type BuildDeps, registerBuildRoutes } from './build';
import { type ContainerDeps, registerContainerRoutes } from './containers';
import { registerDiskRoutes } from './disk';
import { type ExecDeps, registerExecRoutes } from './exec';
import { type ImageDeps, registerImageRoutes } from './images';
import { type NetworkDeps, registerNetworkRoutes } from './networks';
import { registerSystemRoutes, type SystemDeps } from './system';
import { registerVolumeRoutes, type VolumeDeps } from './volumes';

export type ApiDeps = SystemDeps &
  ImageDeps &
  Partial<ContainerDeps & ExecDeps & VolumeDeps & NetworkDeps & BuildDeps>;

export function registerRoutes(router: Router<Handler>, deps: ApiDeps): Router<Handler> {
  registerSystemRoutes(router, deps);
  registerImageRoutes(router, deps);
  if (deps.containers) registerContainerRoutes(router, { containers: deps.containers });
  if (deps.containerStore) {
    registerExecRoutes(router, { containerStore: deps.containerStore });
    registerArchiveRoutes(router, { containerStore: deps.containerStore });
    if (deps.networks)
      registerNetworkRoutes(router, { networks: deps.networks, containerStore: deps.containerStore });
    if (deps.volumes)
      registerDiskRoutes(router, {
        images: deps.images,
        containerStore: deps.containerStore,
        volumes: deps.volumes,
        ...(deps.builder ? { builder: deps.builder } : {}),
      });
  }
  if (deps.volumes) registerVolumeRoutes(router, { volumes: deps.volumes });
  if (deps.builder) registerBuildRoutes(router, { builder: deps.builder });
  registerAuthRoutes(router);
  return router;
}
