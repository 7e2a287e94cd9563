import type { Handler } from '../context';
import type { Router } from '../router';
import { registerAuthRoutes } from './auth';
import { type ImageDeps, registerImageRoutes } from './images';
import { registerSystemRoutes, type SystemDeps } from './system';

export type ApiDeps = SystemDeps & ImageDeps;

export function registerRoutes(router: Router<Handler>, deps: ApiDeps): Router<Handler> {
  registerSystemRoutes(router, deps);
  registerImageRoutes(router, deps);
  registerAuthRoutes(router);
  return router;
}
