import type { Handler } from '../context';
import type { Router } from '../router';
import { registerSystemRoutes, type SystemDeps } from './system';

export type ApiDeps = SystemDeps;

export function registerRoutes(router: Router<Handler>, deps: ApiDeps): Router<Handler> {
  registerSystemRoutes(router, deps);
  return router;
}
