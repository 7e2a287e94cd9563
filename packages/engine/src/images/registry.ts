import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { EngineError } from '../errors';
import { defaultDomain } from './reference';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** Credentials for this registry, if any. Never logged, never put in error messages. */
  credentials?: RegistryCredentials;
  /** Speak plain HTTP. Loopback registries always do, as Docker treats 127.0.0.0/8 as insecure. */
  insecure?: boolean;
  /** Retries after the first attempt on 5xx and connection errors. */
  retries?: number;
  /** Backoff before retry n (0-based), in ms. Injectable so tests do not sleep. */
  backoff?: (attempt: number) => number;
}

type Challenge = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service?: string; scope?: string };

const tokenResponseSchema = z.object({
  token: z.string().optional(),
  access_token: z.string().optional(),
  expires_in: z.number().optional(),
});

const retryStatuses = new Set([500, 502, 503, 504, 429]);

export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  if (scheme === 'basic') return { scheme: 'basic' };
  if (scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) {
    if (m[1] && m[2] !== undefined) params[m[1].toLowerCase()] = m[2];
  }
  if (!params.realm) return undefined;
  const challenge: Challenge = { scheme: 'bearer', realm: params.realm };
  if (params.service) challenge.service = params.service;
  if (params.scope) challenge.scope = params.scope;
  return challenge;
}

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '');
  return name === 'localhost' || name.startsWith('127.') || name === '[::1]';
}

/** What a registry said went wrong, from its `{"errors":[…]}` body, without echoing anything sensitive. */
async function registryErrorText(response: Response): Promise<string> {
  try {
    const text = await response.text();
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const first = parsed.errors?.[0];
    if (first) return `${first.code ?? ''} ${first.message ?? ''}`.trim();
  } catch {
    // not JSON: the status line says enough
  }
  return `HTTP ${response.status}`;
}

function isNetworkError(error: unknown): boolean {
  if (EngineError.is(error)) return false;
  if (error instanceof Error && error.name === 'AbortError') return false;
  return error instanceof TypeError || (error as NodeJS.ErrnoException)?.code !== undefined;
}

/**
 * A client for one registry host speaking the OCI distribution API: ping, WWW-Authenticate Basic and Bearer
 * (token cached per scope until shortly before it expires), retries with backoff on 5xx and dropped
 * connections. Redirects are followed by fetch, which drops Authorization when the origin changes (what
 * blob storage behind a CDN expects).
 */
export class RegistryClient {
  readonly domain: string;
  readonly baseUrl: string;
  readonly #credentials: RegistryCredentials | undefined;
  readonly #retries: number;
  readonly #backoff: (attempt: number) => number;
  readonly #tokens = new Map<string, { token: string; expires: number }>();
  #challenge: Challenge | null | undefined; // undefined: not pinged yet; null: no auth needed

  constructor(domain: string, options: RegistryClientOptions = {}) {
    this.domain = domain;
    const host = domain === defaultDomain ? 'registry-1.docker.io' : domain;
    const scheme = options.insecure || isLoopback(host) ? 'http' : 'https';
    this.baseUrl = `${scheme}://${host}`;
    this.#credentials = options.credentials;
    this.#retries = options.retries ?? 3;
    this.#backoff = options.backoff ?? ((n) => 200 * 2 ** n);
  }

  /** `GET /v2/`: proves the registry speaks the API and learns how it wants us to authenticate. */
  async ping(signal?: AbortSignal): Promise<void> {
    const response = await this.#fetchRetrying(`${this.baseUrl}/v2/`, { method: 'GET', signal });
    await response.body?.cancel().catch(() => {});
    if (response.status === 401) {
      this.#challenge = parseChallenge(response.headers.get('www-authenticate')) ?? null;
      return;
    }
    if (!response.ok)
      throw new EngineError(
        'unavailable',
        `registry ${this.domain} answered /v2/ with HTTP ${response.status}`,
      );
    this.#challenge = null;
  }

  /**
   * One API call on `repository` needing `actions` (pull, push). Authenticates as the registry asks and
   * retries transient failures. The caller owns the response body.
   */
  async request(
    repository: string,
    actions: string[],
    path: string,
    init: RequestInit & { extraScopes?: string[] } = {},
  ): Promise<Response> {
    if (this.#challenge === undefined) await this.ping(init.signal ?? undefined);
    const scopes = [`repository:${repository}:${actions.join(',')}`, ...(init.extraScopes ?? [])];
    const url = path.startsWith('http') ? path : `${this.baseUrl}${path}`;
    const { extraScopes: _unused, ...fetchInit } = init;
    let response = await this.#fetchRetrying(url, {
      ...fetchInit,
      headers: await this.#headers(init.headers, scopes, false),
    });
    if (response.status === 401) {
      await response.body?.cancel().catch(() => {});
      const challenge = parseChallenge(response.headers.get('www-authenticate'));
      if (challenge) this.#challenge = challenge;
      if (isReplayable(init.body)) {
        response = await this.#fetchRetrying(url, {
          ...fetchInit,
          headers: await this.#headers(init.headers, scopes, true),
        });
      }
    }
    if (response.status === 401) {
      await response.body?.cancel().catch(() => {});
      throw new EngineError(
        'unauthorized',
        this.#credentials
          ? `registry ${this.domain} rejected the credentials for ${repository}`
          : `registry ${this.domain} requires authentication for ${repository}`,
      );
    }
    if (response.status === 403) {
      await response.body?.cancel().catch(() => {});
      throw new EngineError('forbidden', `registry ${this.domain} denied access to ${repository}`);
    }
    return response;
  }

  async #headers(base: HeadersInit | undefined, scopes: string[], refresh: boolean): Promise<Headers> {
    const headers = new Headers(base);
    const challenge = this.#challenge;
    if (!challenge) return headers;
    if (challenge.scheme === 'basic') {
      if (this.#credentials) headers.set('authorization', `Basic ${basic(this.#credentials)}`);
      return headers;
    }
    const token = await this.#token(challenge, scopes, refresh);
    if (token) headers.set('authorization', `Bearer ${token}`);
    return headers;
  }

  async #token(
    challenge: Extract<Challenge, { scheme: 'bearer' }>,
    scopes: string[],
    refresh: boolean,
  ): Promise<string | undefined> {
    const key = `${challenge.realm}|${challenge.service ?? ''}|${scopes.join(' ')}`;
    const cached = this.#tokens.get(key);
    if (cached && !refresh && cached.expires > Date.now()) return cached.token;
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers = new Headers();
    if (this.#credentials) headers.set('authorization', `Basic ${basic(this.#credentials)}`);
    const response = await this.#fetchRetrying(url.toString(), { headers });
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel().catch(() => {});
      throw new EngineError(
        'unauthorized',
        `token service for ${this.domain} refused ${this.#credentials ? 'the credentials' : 'anonymous access'}`,
      );
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new EngineError(
        'unavailable',
        `token service for ${this.domain} answered HTTP ${response.status}`,
      );
    }
    const body = tokenResponseSchema.safeParse(await response.json().catch(() => undefined));
    const token = body.success ? (body.data.token ?? body.data.access_token) : undefined;
    if (!token) throw new EngineError('unavailable', `token service for ${this.domain} returned no token`);
    // Renew a little early so a token never expires between check and use; 60 s is the spec's default life.
    const life = Math.max(10, (body.success ? body.data.expires_in : undefined) ?? 60) - 5;
    this.#tokens.set(key, { token, expires: Date.now() + life * 1000 });
    return token;
  }

  async #fetchRetrying(url: string, init: RequestInit): Promise<Response> {
    const replayable = isReplayable(init.body);
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.#retries || !replayable;
      try {
        const response = await fetch(url, { redirect: 'follow', ...init });
        if (!retryStatuses.has(response.status) || last) return response;
        await response.body?.cancel().catch(() => {});
      } catch (error) {
        if (init.signal?.aborted) throw error;
        if (!isNetworkError(error)) throw error;
        if (last)
          throw new EngineError('unavailable', `registry ${this.domain} unreachable: ${describe(error)}`, {
            cause: error,
          });
      }
      await sleep(this.#backoff(attempt), undefined, { signal: init.signal ?? undefined });
    }
  }

  /** Reads a manifest (or any small document) with a size cap, returning the exact bytes and their digest. */
  async getManifest(
    repository: string,
    reference: string,
    accept: string,
    maxBytes: number,
    signal?: AbortSignal,
  ): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const response = await this.request(repository, ['pull'], `/v2/${repository}/manifests/${reference}`, {
      headers: { accept },
      signal,
    });
    if (response.status === 404) {
      await response.body?.cancel().catch(() => {});
      throw new EngineError('not_found', `manifest for ${repository}:${reference} not found`);
    }
    if (!response.ok)
      throw new EngineError(
        'unavailable',
        `registry ${this.domain} failed to serve manifest ${repository}:${reference}: ${await registryErrorText(response)}`,
      );
    const bytes = await readCapped(response, maxBytes, `manifest ${repository}:${reference}`);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
    return { bytes, mediaType, digest };
  }

  /** Opens a blob for streaming; the caller verifies the digest while consuming it. */
  async getBlob(repository: string, digest: string, signal?: AbortSignal): Promise<Readable> {
    const response = await this.request(repository, ['pull'], `/v2/${repository}/blobs/${digest}`, {
      signal,
    });
    if (response.status === 404) {
      await response.body?.cancel().catch(() => {});
      throw new EngineError('not_found', `blob ${digest} not found in ${repository}`);
    }
    if (!response.ok || !response.body)
      throw new EngineError(
        'unavailable',
        `registry ${this.domain} failed to serve blob ${digest}: ${await registryErrorText(response)}`,
      );
    const stream = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>, {
      highWaterMark: 1024 * 1024,
    });
    // A connection cut after the consumer gave up (another layer failed first) must not become an uncaught
    // error that takes the agent down; consumers still get 'error' through their own listeners.
    stream.on('error', () => {});
    return stream;
  }

  async blobExists(repository: string, digest: string, signal?: AbortSignal): Promise<boolean> {
    const response = await this.request(repository, ['pull', 'push'], `/v2/${repository}/blobs/${digest}`, {
      method: 'HEAD',
      signal,
    });
    await response.body?.cancel().catch(() => {});
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw new EngineError(
      'unavailable',
      `registry ${this.domain} answered HEAD blob with HTTP ${response.status}`,
    );
  }

  /**
   * Uploads a blob: tries a cross-repository mount first when `mountFrom` is given, else a monolithic
   * POST+PUT. The body is streamed; `openBody` may be called again on retry.
   */
  async pushBlob(
    repository: string,
    descriptor: { digest: string; size: number },
    openBody: () => Readable,
    options: { mountFrom?: string; signal?: AbortSignal; chunkSize?: number } = {},
  ): Promise<'mounted' | 'uploaded'> {
    const { digest, size } = descriptor;
    let startPath = `/v2/${repository}/blobs/uploads/`;
    const extraScopes: string[] = [];
    if (options.mountFrom && options.mountFrom !== repository) {
      startPath += `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(options.mountFrom)}`;
      extraScopes.push(`repository:${options.mountFrom}:pull`);
    }
    const start = await this.request(repository, ['pull', 'push'], startPath, {
      method: 'POST',
      headers: { 'content-length': '0' },
      extraScopes,
      signal: options.signal,
    });
    await start.body?.cancel().catch(() => {});
    if (start.status === 201) return 'mounted';
    if (start.status !== 202)
      throw new EngineError(
        'unavailable',
        `registry ${this.domain} refused to start an upload: HTTP ${start.status}`,
      );
    const location = start.headers.get('location');
    if (!location) throw new EngineError('unavailable', `registry ${this.domain} gave no upload location`);
    if (options.chunkSize && size > options.chunkSize)
      return this.#uploadChunked(
        repository,
        descriptor,
        openBody(),
        location,
        options.chunkSize,
        options.signal,
      );
    const url = new URL(location, this.baseUrl);
    url.searchParams.set('digest', digest);
    // Streamed, so it cannot be replayed: the POST above already fetched the token this PUT reuses.
    const put = await this.request(repository, ['pull', 'push'], url.toString(), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: Readable.toWeb(openBody()) as unknown as BodyInit,
      duplex: 'half',
      signal: options.signal,
    } as RequestInit);
    if (put.status !== 201)
      throw new EngineError(
        'failed',
        `registry ${this.domain} rejected blob ${digest}: ${await registryErrorText(put)}`,
      );
    await put.body?.cancel().catch(() => {});
    return 'uploaded';
  }

  /**
   * The spec's chunked upload: PATCH each `chunkSize` slice with its Content-Range, following the Location
   * each answer gives, then PUT with the digest. Only one chunk is held in memory at a time.
   */
  async #uploadChunked(
    repository: string,
    { digest, size }: { digest: string; size: number },
    body: Readable,
    firstLocation: string,
    chunkSize: number,
    signal: AbortSignal | undefined,
  ): Promise<'uploaded'> {
    let location = firstLocation;
    let offset = 0;
    const send = async (chunk: Buffer) => {
      const response = await this.request(
        repository,
        ['pull', 'push'],
        new URL(location, this.baseUrl).toString(),
        {
          method: 'PATCH',
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(chunk.length),
            'content-range': `${offset}-${offset + chunk.length - 1}`,
          },
          // Node's Buffers here are ArrayBuffer-backed (read from disk), so this is a view, not a copy.
          body: new Uint8Array(chunk.buffer as ArrayBuffer, chunk.byteOffset, chunk.length),
          signal,
        },
      );
      if (response.status !== 202)
        throw new EngineError(
          'failed',
          `registry ${this.domain} rejected a chunk of ${digest}: ${await registryErrorText(response)}`,
        );
      await response.body?.cancel().catch(() => {});
      offset += chunk.length;
      location = response.headers.get('location') ?? location;
    };
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      for await (const part of body as AsyncIterable<Buffer>) {
        pending.push(part);
        pendingBytes += part.length;
        while (pendingBytes >= chunkSize) {
          const all = Buffer.concat(pending);
          await send(all.subarray(0, chunkSize));
          pending = [all.subarray(chunkSize)];
          pendingBytes = all.length - chunkSize;
        }
      }
      if (pendingBytes > 0) await send(Buffer.concat(pending));
    } finally {
      body.destroy();
    }
    if (offset !== size)
      throw new EngineError('failed', `blob ${digest} is ${offset} bytes locally, descriptor says ${size}`);
    const url = new URL(location, this.baseUrl);
    url.searchParams.set('digest', digest);
    const put = await this.request(repository, ['pull', 'push'], url.toString(), {
      method: 'PUT',
      headers: { 'content-length': '0' },
      signal,
    });
    if (put.status !== 201)
      throw new EngineError(
        'failed',
        `registry ${this.domain} rejected blob ${digest}: ${await registryErrorText(put)}`,
      );
    await put.body?.cancel().catch(() => {});
    return 'uploaded';
  }

  async putManifest(
    repository: string,
    reference: string,
    mediaType: string,
    bytes: Buffer,
    signal?: AbortSignal,
  ): Promise<string> {
    const response = await this.request(
      repository,
      ['pull', 'push'],
      `/v2/${repository}/manifests/${reference}`,
      {
        method: 'PUT',
        headers: { 'content-type': mediaType },
        body: new Uint8Array(bytes),
        signal,
      },
    );
    if (response.status !== 201)
      throw new EngineError(
        'failed',
        `registry ${this.domain} rejected manifest ${repository}:${reference}: ${await registryErrorText(response)}`,
      );
    await response.body?.cancel().catch(() => {});
    return (
      response.headers.get('docker-content-digest') ??
      `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    );
  }
}

function isReplayable(body: unknown): boolean {
  return body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
}

function basic(credentials: RegistryCredentials): string {
  return Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}

async function readCapped(response: Response, maxBytes: number, what: string): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new EngineError('too_large', `${what} is ${declared} bytes, over the ${maxBytes} byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (!response.body) return Buffer.alloc(0);
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > maxBytes) {
      await response.body.cancel().catch(() => {});
      throw new EngineError('too_large', `${what} is over the ${maxBytes} byte limit`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
