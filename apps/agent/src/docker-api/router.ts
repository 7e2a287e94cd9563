/**
 * Path routing for the Docker Engine API. Paths come versioned (`/v1.41/containers/json`) or bare; image names
 * carry `/` and `host:port`, so a `{name*}` segment matches greedily up to the route's literal suffix, the way
 * moby's `{name:.*}` routes do.
 */
import { ApiError } from './errors';
import { API_VERSION, compareVersions, MIN_API_VERSION } from './version';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';

interface CompiledRoute<H> {
  method: Method;
  regex: RegExp;
  names: string[];
  handler: H;
}

export interface RouteMatch<H> {
  handler: H;
  params: Record<string, string>;
}

export class Router<H> {
  readonly #routes: CompiledRoute<H>[] = [];

  add(method: Method, pattern: string, handler: H): this {
    const names: string[] = [];
    const source = pattern
      .split(/(\{[a-zA-Z]+\*?\})/)
      .map((part) => {
        const m = /^\{([a-zA-Z]+)(\*?)\}$/.exec(part);
        if (!m?.[1]) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(m[1]);
        return m[2] ? '(.+)' : '([^/]+)';
      })
      .join('');
    this.#routes.push({ method, regex: new RegExp(`^${source}$`), names, handler });
    return this;
  }

  /** Undefined when no route has this path; `null` handler when the path exists for other methods only. */
  match(method: string, path: string): RouteMatch<H> | undefined {
    const m = method === 'HEAD' ? ['HEAD', 'GET'] : [method];
    for (const wanted of m) {
      for (const route of this.#routes) {
        if (route.method !== wanted) continue;
        const found = route.regex.exec(path);
        if (!found) continue;
        const params: Record<string, string> = {};
        route.names.forEach((name, i) => {
          params[name] = decodePathSegment(found[i + 1] ?? '');
        });
        return { handler: route.handler, params };
      }
    }
    return undefined;
  }
}

export interface ParsedPath {
  /** The client's requested version, or the server's when the path is unversioned. */
  version: string;
  path: string;
}

/** Splits `/v1.41/x` into version and path, refusing versions outside what we speak with dockerd's words. */
export function parseVersionedPath(rawPath: string): ParsedPath {
  const m = /^\/v([0-9]+(?:\.[0-9]+)*)(\/.*)$/.exec(rawPath);
  if (!m?.[1] || !m[2]) return { version: API_VERSION, path: rawPath };
  const version = m[1];
  if (compareVersions(version, API_VERSION) > 0)
    throw new ApiError(
      400,
      `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`,
    );
  if (compareVersions(version, MIN_API_VERSION) < 0)
    throw new ApiError(
      400,
      `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  return { version, path: m[2] };
}

function decodePathSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, `invalid escape in path: ${raw}`);
  }
}
