/** `docker exec`: create an exec instance, start it (hijacked or plain stream), inspect it. */
import type { ContainerStore } from '@berth/engine';
import { z } from 'zod';
import { commonHeaders, type Handler, hijack, readJson, sendJson, sendStatus } from '../context';
import { ApiError } from '../errors';
import type { Router } from '../router';
import { encodeOutput } from '../stdio';

export interface ExecDeps {
  containerStore: ContainerStore;
}

const startBody = z.looseObject({ Detach: z.boolean().optional(), Tty: z.boolean().optional() });

function start(deps: ExecDeps): Handler {
  return async (ctx) => {
    const execId = ctx.params.id ?? '';
    const body = (await readJson(ctx, startBody.optional())) ?? {};
    const info = deps.containerStore.execInspect(execId) as {
      ProcessConfig: { tty: boolean };
      OpenStdin: boolean;
    };
    const session = await deps.containerStore.execStart(execId);
    if (body.Detach) {
      session.stdout.resume();
      session.stderr.resume();
      session.stdin?.end();
      sendStatus(ctx, 200);
      return;
    }
    const tty = info.ProcessConfig.tty;
    const contentType = tty
      ? 'application/vnd.docker.raw-stream'
      : 'application/vnd.docker.multiplexed-stream';
    let write: (chunk: Buffer) => boolean;
    let finish: () => void;
    let input: NodeJS.ReadableStream | undefined;
    if (ctx.upgrade) {
      const socket = hijack(ctx, contentType);
      write = (chunk) => socket.write(chunk);
      finish = () => socket.end();
      input = socket;
      socket.on('error', () => {});
    } else {
      ctx.res.writeHead(200, { ...commonHeaders(), 'Content-Type': contentType });
      ctx.res.flushHeaders();
      write = (chunk) => ctx.res.write(chunk);
      finish = () => ctx.res.end();
      input = ctx.req;
    }
    if (session.stdin) {
      const stdin = session.stdin;
      stdin.on('error', () => {});
      input.pipe(stdin);
    } else input.resume();
    const pump = (stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr') =>
      new Promise<void>((resolve) => {
        stream.on('data', (data: Buffer) => {
          write(encodeOutput({ stream: name, data }, { tty }));
        });
        stream.once('end', resolve);
        stream.once('error', () => resolve());
      });
    await Promise.all([pump(session.stdout, 'stdout'), pump(session.stderr, 'stderr'), session.exit]);
    finish();
  };
}

export function registerExecRoutes(router: Router<Handler>, deps: ExecDeps): void {
  router
    .add('POST', '/containers/{id}/exec', async (ctx) => {
      const body = await readJson(ctx, z.looseObject({}));
      sendJson(ctx, 201, deps.containerStore.execCreate(ctx.params.id ?? '', body));
    })
    .add('POST', '/exec/{id}/start', start(deps))
    .add('GET', '/exec/{id}/json', async (ctx) => {
      sendJson(ctx, 200, deps.containerStore.execInspect(ctx.params.id ?? ''));
    })
    .add('POST', '/exec/{id}/resize', async (ctx) => {
      // Exec sessions run without a terminal of their own yet; the size is accepted and has no effect.
      deps.containerStore.execInspect(ctx.params.id ?? '');
      if (ctx.query.get('h') === null || ctx.query.get('w') === null)
        throw new ApiError(400, 'invalid height or width');
      sendStatus(ctx, 200);
    });
}
