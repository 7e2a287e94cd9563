/**
 * What a route handler gets: the parsed request, an abort signal that fires when the client goes away, and
 * the few ways Docker answers — a JSON body, a chunked JSON stream flushed per message, or a hijacked raw
 * connection. Handlers stay short because the wire details live here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { ApiError } from './errors';
import { API_VERSION, BERTH_VERSION } from './version';

const maxJsonBody = 16 * 1024 * 1024;

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  /** The API version the client asked for in the path (the server's own when unversioned). */
  readonly apiVersion: string;
  /** Aborts when the client disconnects before the response finished (or the server shuts down). */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Present when the client sent `Upgrade: tcp` and the connection can be hijacked. */
  readonly upgrade: UpgradedConnection | undefined;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

export function commonHeaders(): Record<string, string> {
  return {
    'Api-Version': API_VERSION,
    'Docker-Experimental': 'false',
    Ostype: 'linux',
    Server: `Berth/${BERTH_VERSION} (linux)`,
  };
}

export function sendJson(ctx: RequestContext, status: number, body: unknown): void {
  // dockerd's encoder ends every JSON body with a newline; clients that compare bytes notice.
  const text = `${JSON.stringify(body)}\n`;
  ctx.res.writeHead(status, {
    ...commonHeaders(),
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  ctx.res.end(text);
}

export function sendStatus(ctx: RequestContext, status: number): void {
  ctx.res.writeHead(status, commonHeaders());
  ctx.res.end();
}

/**
 * On an upgraded connection the body arrives on the raw socket after the headers (Node hands us what came
 * with them as `head`). Reads exactly Content-Length bytes and leaves the rest (stdin) in `head`.
 */
export interface UpgradedConnection {
  socket: Duplex;
  /** Bytes that came after the request's headers and body: the first stdin bytes. */
  head: Buffer;
  /** The request's declared body, read off the connection before the handler runs. */
  body?: Buffer;
  hijacked?: boolean;
}

/**
 * Takes an upgraded request's declared body (Content-Length bytes) off the connection, so that what remains
 * is stdin. Clients such as dockerode send their options as a JSON body even on attach; dockerd drops it
 * with the rest of Go's buffered reader when it hijacks, and it must never reach a container's stdin.
 */
export async function takeUpgradeBody(upgrade: UpgradedConnection, contentLength: string | undefined) {
  upgrade.body = await readUpgradeBody(upgrade, Number(contentLength ?? 0));
}

async function readUpgradeBody(upgrade: UpgradedConnection, length: number): Promise<Buffer> {
  if (!Number.isInteger(length) || length <= 0) return Buffer.alloc(0);
  if (length > maxJsonBody) throw new ApiError(413, 'request body too large');
  let buffered = upgrade.head;
  while (buffered.length < length) {
    const chunk = upgrade.socket.read() as Buffer | null;
    if (chunk) {
      buffered = Buffer.concat([buffered, chunk]);
      continue;
    }
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        upgrade.socket.off('readable', done);
        upgrade.socket.off('end', ended);
        resolve();
      };
      const ended = () => {
        upgrade.socket.off('readable', done);
        reject(new ApiError(400, 'request body ended early'));
      };
      upgrade.socket.once('readable', done);
      upgrade.socket.once('end', ended);
    });
  }
  upgrade.head = buffered.subarray(length);
  return buffered.subarray(0, length);
}

/** Reads and validates a JSON body. An empty body is `undefined` input to the schema. */
export async function readJson<S extends z.ZodType>(ctx: RequestContext, schema: S): Promise<z.output<S>> {
  const type = ctx.req.headers['content-type'];
  const hasBody =
    ctx.req.headers['content-length'] !== '0' && ctx.req.headers['content-length'] !== undefined;
  // dockerd refuses a body declared as anything but JSON; the CLI always declares it.
  if (hasBody && type !== undefined && !/^application\/json\b/i.test(type))
    throw new ApiError(400, `unsupported Content-Type header (${type}): must be 'application/json'`);
  let text: string;
  if (ctx.upgrade)
    text = (
      ctx.upgrade.body ?? (await readUpgradeBody(ctx.upgrade, Number(ctx.req.headers['content-length'] ?? 0)))
    )
      .toString('utf8')
      .trim();
  else {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxJsonBody) throw new ApiError(413, 'request body too large');
      chunks.push(chunk);
    }
    text = Buffer.concat(chunks).toString('utf8').trim();
  }
  let value: unknown;
  if (text !== '') {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ApiError(400, `invalid JSON: ${(error as Error).message}`);
    }
  }
  return schema.parse(value);
}

export interface JsonStream {
  /** Writes one message and flushes it; resolves once the socket accepted it (backpressure). */
  write(message: unknown): Promise<void>;
  end(): void;
}

/**
 * Starts a 200 chunked JSON stream with headers flushed at once: the CLI waits on those headers (e.g. `wait`
 * must answer before `start` is sent). `separator` is `\r\n` for progress streams as dockerd writes them.
 */
export function startJsonStream(ctx: RequestContext, separator = '\n'): JsonStream {
  const { res } = ctx;
  res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
  res.flushHeaders();
  return {
    write(message) {
      if (res.destroyed || res.writableEnded) return Promise.resolve();
      const ok = res.write(`${JSON.stringify(message)}${separator}`);
      if (ok) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
    },
    end() {
      if (!res.writableEnded) res.end();
    },
  };
}

/**
 * Takes over the connection the way dockerd does for attach and exec: answers `101 UPGRADED` and hands back
 * the raw socket. Bytes the client already sent after its headers (stdin typed before the upgrade finished)
 * arrive in `head` and are put back in front of the socket's stream.
 */
export function hijack(ctx: RequestContext, contentType: string): Duplex {
  if (!ctx.upgrade) throw new ApiError(400, 'this endpoint needs an upgraded connection (Upgrade: tcp)');
  const { socket, head } = ctx.upgrade;
  ctx.upgrade.hijacked = true;
  socket.write(
    `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
  );
  if (head.length) socket.unshift(head);
  return socket;
}

/** dockerd's boolean query values: empty, 0, no, false and none are false; anything else is true. */
export function boolParam(query: URLSearchParams, name: string, fallback = false): boolean {
  const value = query.get(name);
  if (value === null) return fallback;
  return !['', '0', 'no', 'false', 'none'].includes(value.trim().toLowerCase());
}

export function intParam(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new ApiError(400, `invalid value for ${name}: ${value}`);
  return n;
}

/**
 * `filters` is JSON: `{"key":["a","b"]}`, or the older `{"key":{"a":true}}` that some clients still send.
 */
export function filtersParam(query: URLSearchParams): Record<string, string[]> {
  const raw = query.get('filters');
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ApiError(400, `invalid filter: ${raw}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ApiError(400, 'invalid filter: expected a JSON object');
  const out: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out[key] = value;
    else if (typeof value === 'object' && value !== null)
      out[key] = Object.entries(value)
        .filter(([, on]) => on === true)
        .map(([v]) => v);
    else throw new ApiError(400, `invalid filter '${key}'`);
  }
  return out;
}
