import type { Handler } from '../context';
import type { Router } from '../router';
import { registerArchiveRoutes } from './archive';
import { registerAuthRoutes } from './auth';
import { type ContainerDeps, registerContainerRoutes } from './containers';
import { type ExecDeps, registerExecRoutes } from './exec';
import { type ImageDeps, registerImageRoutes } from './images';
import { registerSystemRoutes, type SystemDeps } from './system';
import { registerVolumeRoutes, type VolumeDeps } from './volumes';

export type ApiDeps = SystemDeps & ImageDeps & Partial<ContainerDeps & ExecDeps & VolumeDeps>;

export function registerRoutes(router: Router<Handler>, deps: ApiDeps): Router<Handler> {
  registerSystemRoutes(router, deps);
  registerImageRoutes(router, deps);
  if (deps.containers) registerContainerRoutes(router, { containers: deps.containers });
  if (deps.containerStore) {
    registerExecRoutes(router, { containerStore: deps.containerStore });
    registerArchiveRoutes(router, { containerStore: deps.containerStore });
  }
  if (deps.volumes) registerVolumeRoutes(router, { volumes: deps.volumes });
  registerAuthRoutes(router);
  return router;
}
