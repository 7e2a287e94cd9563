/**
 * `X-Registry-Auth`: base64url of a JSON AuthConfig the CLI sends with pull and push. Decoded into the
 * engine's credentials; never logged. A malformed header is treated as "no credentials", as dockerd does,
 * so an anonymous pull still works with a broken client.
 */
import { z } from 'zod';

export const authConfigSchema = z.looseObject({
  username: z.string().max(4096).optional(),
  password: z.string().max(65536).optional(),
  auth: z.string().max(65536).optional(),
  email: z.string().max(4096).optional(),
  serveraddress: z.string().max(4096).optional(),
  identitytoken: z.string().max(65536).optional(),
  registrytoken: z.string().max(65536).optional(),
});

export type AuthConfig = z.infer<typeof authConfigSchema>;

export interface Credentials {
  username: string;
  password: string;
}

export function credentialsOf(config: AuthConfig | undefined): Credentials | undefined {
  if (!config) return undefined;
  if (config.username && config.password) return { username: config.username, password: config.password };
  if (config.auth) {
    const decoded = Buffer.from(config.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

export function decodeRegistryAuth(header: string | string[] | undefined): AuthConfig | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  try {
    // The CLI uses URL-safe base64 with padding; Node's base64url decoder takes it with or without.
    const json: unknown = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    const parsed = authConfigSchema.safeParse(json);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
