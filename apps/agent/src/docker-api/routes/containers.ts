/**
 * Container endpoints. The transport validates the query, hands the Docker-shaped create body to the engine
 * (whose zod schema owns its validation) and shapes the answers and streams as dockerd does.
 */
import type { Readable, Writable } from 'node:stream';
import type { ContainerStats } from '@berth/engine';
import { z } from 'zod';
import {
  boolParam,
  filtersParam,
  type Handler,
  hijack,
  intParam,
  readJson,
  sendJson,
  sendStatus,
  startJsonStream,
} from '../context';
import { defaultDetachKeys, detachKeysFilter, parseDetachKeys } from '../detach-keys';
import { ApiError } from '../errors';
import type { Router } from '../router';
import { encodeOutput, type OutputChunk, parseLogsQuery } from '../stdio';

/** What the Docker API needs from the engine's containers capability. */
export interface ContainerBackend {
  create(
    body: Record<string, unknown>,
    options: { name?: string },
  ): Promise<{ Id: string; Warnings: string[] }>;
  start(id: string): Promise<void>;
  stop(id: string, options: { timeout?: number; signal?: string }): Promise<void>;
  restart(id: string, options: { timeout?: number }): Promise<void>;
  kill(id: string, signal?: string): Promise<void>;
  pause(id: string): Promise<void>;
  unpause(id: string): Promise<void>;
  remove(id: string, options: { force: boolean; volumes: boolean }): Promise<void>;
  list(options: { all: boolean; limit?: number; filters: Record<string, string[]> }): Promise<unknown[]>;
  inspect(id: string): Promise<{ Config: { Tty: boolean } } & Record<string, unknown>>;
  wait(
    id: string,
    condition: 'not-running' | 'next-exit' | 'removed',
    signal: AbortSignal,
  ): Promise<{ StatusCode: number; Error?: { Message: string } | null }>;
  rename(id: string, name: string): Promise<void>;
  update(id: string, body: Record<string, unknown>): Promise<{ Warnings: string[] }>;
  commit(
    id: string,
    options: { tag?: string; comment?: string; author?: string; pause?: boolean },
  ): Promise<{ Id: string }>;
  top(id: string, psArgs?: string): Promise<{ Titles: string[]; Processes: string[][] }>;
  stats(id: string): Promise<ContainerStats>;
  changes(id: string): Promise<Array<{ Path: string; Kind: number }>>;
  logs(
    id: string,
    options: {
      stdout: boolean;
      stderr: boolean;
      follow: boolean;
      tail?: number;
      since?: number;
      until?: number;
    },
    signal: AbortSignal,
  ): AsyncIterable<OutputChunk>;
  attach(
    id: string,
    options: { stdin: boolean; stdout: boolean; stderr: boolean; logs: boolean; stream: boolean },
    signal: AbortSignal,
  ): Promise<{ tty: boolean; stdin?: Writable; output: AsyncIterable<OutputChunk> | Readable }>;
  resize(id: string, height: number, width: number): Promise<void>;
  prune(
    filters: Record<string, string[]>,
  ): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>;
}

export interface ContainerDeps {
  containers: ContainerBackend;
}

const nameRe = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const createBody = z.looseObject({ Image: z.string().optional() }).refine((b) => typeof b === 'object', {
  message: 'config cannot be empty in order to create a container',
});

function id(ctx: { params: Record<string, string> }): string {
  return ctx.params.id ?? '';
}

function create(deps: ContainerDeps): Handler {
  return async (ctx) => {
    const name = ctx.query.get('name') || undefined;
    if (name !== undefined && !nameRe.test(name))
      throw new ApiError(400, `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const body = await readJson(ctx, createBody.optional());
    if (!body) throw new ApiError(400, 'config cannot be empty in order to create a container');
    sendJson(ctx, 201, await deps.containers.create(body, { name }));
  };
}

function simple(
  run: (deps: ContainerDeps, ctx: Parameters<Handler>[0]) => Promise<void>,
  deps: ContainerDeps,
): Handler {
  return async (ctx) => {
    await run(deps, ctx);
    sendStatus(ctx, 204);
  };
}

function wait(deps: ContainerDeps): Handler {
  return async (ctx) => {
    const raw = ctx.query.get('condition') || 'not-running';
    const condition = z.enum(['not-running', 'next-exit', 'removed']).safeParse(raw);
    if (!condition.success) throw new ApiError(400, `invalid condition: "${raw}"`);
    // Resolve the container first so a missing one is a plain 404, then flush headers: the CLI starts the
    // container only after this response's headers arrived.
    await deps.containers.inspect(id(ctx));
    const stream = startJsonStream(ctx);
    try {
      const result = await deps.containers.wait(id(ctx), condition.data, ctx.signal);
      await stream.write({ Error: result.Error ?? null, StatusCode: result.StatusCode });
    } catch (error) {
      if (ctx.signal.aborted) return;
      await stream.write({ Error: { Message: (error as Error).message }, StatusCode: -1 });
    } finally {
      stream.end();
    }
  };
}

function list(deps: ContainerDeps): Handler {
  return async (ctx) => {
    sendJson(
      ctx,
      200,
      await deps.containers.list({
        all: boolParam(ctx.query, 'all'),
        limit: intParam(ctx.query, 'limit'),
        filters: filtersParam(ctx.query),
      }),
    );
  };
}

function logs(deps: ContainerDeps): Handler {
  return async (ctx) => {
    const query = parseLogsQuery(ctx.query);
    const info = await deps.containers.inspect(id(ctx));
    const tty = info.Config.Tty;
    const source = deps.containers.logs(id(ctx), query, ctx.signal);
    ctx.res.writeHead(200, {
      'Api-Version': '1.41',
      'Content-Type': 'application/vnd.docker.raw-stream',
    });
    ctx.res.flushHeaders();
    try {
      for await (const chunk of source) {
        if (ctx.signal.aborted) break;
        if (!ctx.res.write(encodeOutput(chunk, { tty, timestamps: query.timestamps })))
          await new Promise((resolve) => {
            ctx.res.once('drain', resolve);
            ctx.res.once('close', resolve);
          });
      }
    } finally {
      if (!ctx.res.writableEnded) ctx.res.end();
    }
  };
}

/** Docker's collection interval: one sample a second, each carrying the one before as `precpu_stats`. */
const statsIntervalMs = 1000;

/**
 * `docker stats`: a sample a second while the client reads (`stream`, the default); with `stream=false` one
 * sample whose precpu is a second older, as dockerd waits for its next collection; `one-shot` answers at once.
 */
function stats(deps: ContainerDeps): Handler {
  return async (ctx) => {
    const containerId = id(ctx);
    const sample = () => deps.containers.stats(containerId);
    const paired = (current: ContainerStats, previous: ContainerStats | undefined): ContainerStats =>
      previous ? { ...current, precpu_stats: previous.cpu_stats, preread: previous.read } : current;
    let previous = await sample();
    if (!boolParam(ctx.query, 'stream', true)) {
      if (boolParam(ctx.query, 'one-shot')) return sendJson(ctx, 200, previous);
      await delay(statsIntervalMs, ctx.signal);
      return sendJson(ctx, 200, paired(await sample(), previous));
    }
    const stream = startJsonStream(ctx);
    try {
      await stream.write(previous);
      while (!ctx.signal.aborted) {
        await delay(statsIntervalMs, ctx.signal);
        if (ctx.signal.aborted) break;
        const current = await sample();
        await stream.write(paired(current, previous));
        previous = current;
      }
    } catch (error) {
      // A container removed while its stats stream: the stream ends, as dockerd's does.
      if (!(error instanceof Error && /no such container/i.test(error.message))) throw error;
    } finally {
      stream.end();
    }
  };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function attach(deps: ContainerDeps): Handler {
  return async (ctx) => {
    const q = ctx.query;
    const detachKeys = parseDetachKeys(q.get('detachKeys') || defaultDetachKeys);
    const session = await deps.containers.attach(
      id(ctx),
      {
        stdin: boolParam(q, 'stdin'),
        stdout: boolParam(q, 'stdout'),
        stderr: boolParam(q, 'stderr'),
        logs: boolParam(q, 'logs'),
        stream: boolParam(q, 'stream'),
      },
      ctx.signal,
    );
    const socket = hijack(ctx, 'application/vnd.docker.raw-stream');
    let detached = false;
    if (session.stdin) {
      const stdin = session.stdin;
      stdin.on('error', () => {});
      const filter = detachKeysFilter(detachKeys, () => {
        detached = true;
        filter.unpipe(stdin);
        stdin.destroy();
        socket.end(() => socket.destroy());
      });
      socket.pipe(filter).pipe(stdin);
      // A client gone without half-closing its input must not keep conmon's attach socket open.
      socket.once('close', () => stdin.destroy());
    } else socket.resume();
    try {
      for await (const chunk of session.output as AsyncIterable<OutputChunk>) {
        if (ctx.signal.aborted || detached) break;
        if (!socket.write(encodeOutput(chunk, { tty: session.tty })))
          await new Promise((resolve) => {
            socket.once('drain', resolve);
            socket.once('close', resolve);
          });
      }
    } finally {
      socket.end();
    }
  };
}

export function registerContainerRoutes(router: Router<Handler>, deps: ContainerDeps): void {
  const c = deps.containers;
  router
    .add('POST', '/containers/create', create(deps))
    .add('GET', '/containers/json', list(deps))
    .add('POST', '/containers/prune', async (ctx) => {
      sendJson(ctx, 200, await c.prune(filtersParam(ctx.query)));
    })
    .add('GET', '/containers/{id}/json', async (ctx) => {
      sendJson(ctx, 200, await c.inspect(id(ctx)));
    })
    .add(
      'POST',
      '/containers/{id}/start',
      simple((d, ctx) => d.containers.start(id(ctx)), deps),
    )
    .add(
      'POST',
      '/containers/{id}/stop',
      simple((d, ctx) => d.containers.stop(id(ctx), { timeout: intParam(ctx.query, 't') }), deps),
    )
    .add(
      'POST',
      '/containers/{id}/restart',
      simple((d, ctx) => d.containers.restart(id(ctx), { timeout: intParam(ctx.query, 't') }), deps),
    )
    .add(
      'POST',
      '/containers/{id}/kill',
      simple((d, ctx) => d.containers.kill(id(ctx), ctx.query.get('signal') || undefined), deps),
    )
    .add(
      'POST',
      '/containers/{id}/pause',
      simple((d, ctx) => d.containers.pause(id(ctx)), deps),
    )
    .add(
      'POST',
      '/containers/{id}/unpause',
      simple((d, ctx) => d.containers.unpause(id(ctx)), deps),
    )
    .add('POST', '/commit', async (ctx) => {
      const container = ctx.query.get('container');
      if (!container) throw new ApiError(400, 'container is required');
      if (ctx.query.getAll('changes').some((c) => c.trim() !== ''))
        throw new ApiError(400, 'commit --change is not supported by Berth');
      const repo = ctx.query.get('repo');
      const tag = ctx.query.get('tag');
      const comment = ctx.query.get('comment');
      const author = ctx.query.get('author');
      const created = await deps.containers.commit(container, {
        ...(repo ? { tag: tag ? `${repo}:${tag}` : repo } : {}),
        ...(comment ? { comment } : {}),
        ...(author ? { author } : {}),
        pause: boolParam(ctx.query, 'pause', true),
      });
      sendJson(ctx, 201, created);
    })
    .add('POST', '/containers/{id}/update', async (ctx) => {
      const body = await readJson(ctx, z.looseObject({}).optional());
      sendJson(ctx, 200, await deps.containers.update(id(ctx), body ?? {}));
    })
    .add(
      'POST',
      '/containers/{id}/rename',
      simple(async (d, ctx) => {
        const name = ctx.query.get('name');
        if (!name || !nameRe.test(name)) throw new ApiError(400, `Invalid container name (${name ?? ''})`);
        await d.containers.rename(id(ctx), name);
      }, deps),
    )
    .add(
      'DELETE',
      '/containers/{id}',
      simple(
        (d, ctx) =>
          d.containers.remove(id(ctx), {
            force: boolParam(ctx.query, 'force'),
            volumes: boolParam(ctx.query, 'v'),
          }),
        deps,
      ),
    )
    .add('POST', '/containers/{id}/wait', wait(deps))
    .add('GET', '/containers/{id}/logs', logs(deps))
    .add('POST', '/containers/{id}/attach', attach(deps))
    .add('GET', '/containers/{id}/stats', stats(deps))
    .add('GET', '/containers/{id}/top', async (ctx) => {
      sendJson(ctx, 200, await c.top(id(ctx), ctx.query.get('ps_args') || undefined));
    })
    .add('GET', '/containers/{id}/changes', async (ctx) => {
      sendJson(ctx, 200, await c.changes(id(ctx)));
    })
    .add('POST', '/containers/{id}/resize', async (ctx) => {
      const h = intParam(ctx.query, 'h');
      const w = intParam(ctx.query, 'w');
      if (h === undefined || w === undefined || h < 0 || w < 0)
        throw new ApiError(400, 'invalid height or width');
      await c.resize(id(ctx), h, w);
      sendStatus(ctx, 200);
    });
}
