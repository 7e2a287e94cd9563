/**
 * The Docker Engine API on a unix socket: a Node http server, a route table, and the one error boundary.
 * Upgraded requests (`Upgrade: tcp`, for attach and exec) come through the server's 'upgrade' event and go
 * through the same routes, with the raw socket in `ctx.upgrade`.
 */

import { setMaxListeners } from 'node:events';
import { chmod, chown, lstat, mkdir, readFile, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  commonHeaders,
  type Handler,
  type RequestContext,
  sendJson,
  takeUpgradeBody,
  type UpgradedConnection,
} from './context';
import { ApiError, mapError } from './errors';
import { parseVersionedPath, Router } from './router';
import { type ApiDeps, registerRoutes } from './routes';

export interface DockerApiServerOptions {
  socketPath: string;
  deps: ApiDeps;
  log: Logger;
  /** File mode of the socket; dockerd uses 0660 so only root and the socket's group may drive it. */
  socketMode?: number;
  /** Group that may use the socket, as dockerd's `docker` group; skipped when the group does not exist. */
  socketGroup?: string;
}

export class DockerApiServer implements AsyncDisposable {
  readonly socketPath: string;
  readonly #server: Server;
  readonly #log: Logger;
  readonly #router: Router<Handler>;
  readonly #sockets = new Set<Duplex>();
  readonly #shutdown = new AbortController();
  #active = 0;

  private constructor(options: DockerApiServerOptions) {
    this.socketPath = options.socketPath;
    this.#log = options.log;
    // Every request in flight listens for shutdown; hundreds at once are normal, not a leak.
    setMaxListeners(0, this.#shutdown.signal);
    this.#router = registerRoutes(new Router<Handler>(), options.deps);
    this.#server = createServer({ keepAlive: true }, (req, res) => {
      void this.#dispatch(req, res, undefined);
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#track(socket);
      const res = new ServerResponse(req);
      res.assignSocket(socket as Socket);
      void this.#dispatch(req, res, { socket, head });
    });
    this.#server.on('connection', (socket: Socket) => this.#track(socket));
    this.#server.on('clientError', (error, socket) => {
      this.#log.debug({ err: error.message }, 'docker api client error');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  static async listen(options: DockerApiServerOptions): Promise<DockerApiServer> {
    const server = new DockerApiServer(options);
    await prepareSocketPath(options.socketPath);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(options.socketPath, () => {
        server.#server.off('error', reject);
        resolve();
      });
    });
    await chmod(options.socketPath, options.socketMode ?? 0o660);
    const gid = await groupId(options.socketGroup ?? 'docker');
    if (gid !== undefined) await chown(options.socketPath, process.getuid?.() ?? 0, gid);
    server.#log.info({ socket: options.socketPath }, 'docker api listening');
    return server;
  }

  async close(): Promise<void> {
    if (this.#shutdown.signal.aborted) return;
    this.#shutdown.abort();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // Long-lived streams (events, logs -f, attach) would hold close() forever; the shutdown signal ends
    // their handlers, and whatever is left is cut.
    for (const socket of this.#sockets) socket.destroy();
    this.#server.closeAllConnections();
    await closed;
    await unlink(this.socketPath).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Requests whose handler has not finished: streams a disconnected client left would show up here. */
  get activeRequests(): number {
    return this.#active;
  }

  #track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // A client resetting the connection must never surface as an unhandled 'error'.
    socket.on('error', () => {});
  }

  async #dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    upgrade: UpgradedConnection | undefined,
  ): Promise<void> {
    this.#active++;
    const started = performance.now();
    const abort = new AbortController();
    const onShutdown = () => abort.abort();
    this.#shutdown.signal.addEventListener('abort', onShutdown);
    const closeTarget = upgrade ? upgrade.socket : res;
    const onClose = () => {
      if (upgrade || !res.writableFinished) abort.abort();
    };
    closeTarget.once('close', onClose);
    req.on('error', () => abort.abort());
    const url = parseRequestUrl(req.url);
    const log = this.#log.child({ method: req.method, path: url?.pathname ?? req.url });
    let ctx: RequestContext | undefined;
    try {
      if (!url) throw new ApiError(400, 'invalid request URL');
      const { version, path } = parseVersionedPath(url.pathname);
      const match = this.#router.match(req.method ?? 'GET', path);
      ctx = {
        req,
        res,
        params: match?.params ?? {},
        query: url.searchParams,
        apiVersion: version,
        signal: abort.signal,
        log,
        upgrade,
      };
      if (upgrade) await takeUpgradeBody(upgrade, req.headers['content-length']);
      if (!match) {
        // dockerd answers unknown paths without its usual headers.
        const text = '{"message":"page not found"}\n';
        res.writeHead(404, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      await match.handler(ctx);
    } catch (error) {
      const mapped = mapError(error);
      if (mapped.unexpected) log.error({ err: error }, 'docker api request failed');
      else log.debug({ status: mapped.status, message: mapped.message }, 'docker api request refused');
      // A hijacked connection carries raw stdio now; an HTTP answer would corrupt it, so just end it.
      if (upgrade?.hijacked) upgrade.socket.end();
      else this.#answerError(ctx, res, mapped.status, mapped.message);
    } finally {
      // An upgrade request to an endpoint that answered plainly has no HTTP parser left on its socket: close it
      // once the answer is out rather than leave the client waiting.
      if (upgrade && !upgrade.hijacked) {
        if (res.writableFinished) upgrade.socket.end();
        else res.once('finish', () => upgrade.socket.end());
      }
      this.#active--;
      log.debug(
        { status: res.statusCode, ms: Math.round(performance.now() - started) },
        'docker api request',
      );
      this.#shutdown.signal.removeEventListener('abort', onShutdown);
      closeTarget.off('close', onClose);
    }
  }

  #answerError(ctx: RequestContext | undefined, res: ServerResponse, status: number, message: string): void {
    if (res.headersSent || res.destroyed) {
      // Too late for a status line: the stream carried part of an answer already. Cut it so the client
      // sees a failure instead of a truncated success.
      if (!res.writableEnded) res.destroy();
      return;
    }
    if (status === 304) {
      res.writeHead(304, commonHeaders());
      res.end();
    } else if (ctx) {
      sendJson(ctx, status, { message });
    } else {
      const text = `${JSON.stringify({ message })}\n`;
      res.writeHead(status, {
        ...commonHeaders(),
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(text),
      });
      res.end(text);
    }
  }
}

/** Removes a stale socket left by a crashed agent, but refuses to steal one another process is serving. */
async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const stat = await lstat(path).catch(() => undefined);
  if (!stat) return;
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket`);
  const inUse = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (inUse) throw new Error(`another server is listening on ${path}`);
  await unlink(path);
}

async function groupId(name: string): Promise<number | undefined> {
  const groups = await readFile('/etc/group', 'utf8').catch(() => '');
  for (const line of groups.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/** Only origin-form targets (`/path?query`); an absolute or malformed target must not throw past the boundary. */
function parseRequestUrl(target: string | undefined): URL | undefined {
  if (!target?.startsWith('/') || target.startsWith('//')) return undefined;
  try {
    return new URL(target, 'http://docker');
  } catch {
    return undefined;
  }
}
