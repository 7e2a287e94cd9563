/**
 * `POST /auth` for `docker login`: proves the credentials against the registry and answers as dockerd does.
 * Nothing is stored: the CLI keeps the credentials and sends them with each pull and push.
 */
import { EngineError } from '@berth/engine';
import { RegistryClient } from '@berth/engine/images/registry';
import { authConfigSchema, credentialsOf } from '../auth';
import { type Handler, readJson, sendJson } from '../context';
import { ApiError } from '../errors';
import type { Router } from '../router';

/** `https://index.docker.io/v1/`, `http://host:5000/`, `host:5000` -> the engine's registry domain. */
export function registryDomain(serverAddress: string | undefined): string {
  if (!serverAddress) return 'docker.io';
  const host = serverAddress.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'docker.io')
    return 'docker.io';
  if (!/^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9a-fA-F:]+\](:[0-9]+)?$/.test(host))
    throw new ApiError(400, `invalid registry address: ${serverAddress}`);
  return host;
}

const login: Handler = async (ctx) => {
  const config = await readJson(ctx, authConfigSchema);
  const credentials = credentialsOf(config);
  if (!credentials) throw new ApiError(400, 'username and password are required');
  const domain = registryDomain(config.serveraddress);
  const client = new RegistryClient(domain, { credentials, retries: 1 });
  await client.ping(ctx.signal);
  try {
    // The base endpoint demands authentication on registries that have it; the answer tells us whether the
    // credentials hold (Basic) or whether the token service accepts them (Bearer).
    const response = await client.request('', ['pull'], '/v2/', { signal: ctx.signal });
    await response.body?.cancel();
    if (!response.ok)
      throw new EngineError('unavailable', `registry ${domain} answered /v2/ with HTTP ${response.status}`);
  } catch (error) {
    if (EngineError.is(error, 'unauthorized') || EngineError.is(error, 'forbidden'))
      throw new EngineError(
        'unauthorized',
        `login to ${domain} failed: unauthorized: incorrect username or password`,
      );
    throw error;
  }
  sendJson(ctx, 200, { Status: 'Login Succeeded', IdentityToken: '' });
};

export function registerAuthRoutes(router: Router<Handler>): void {
  router.add('POST', '/auth', login);
}
