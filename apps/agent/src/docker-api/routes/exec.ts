/** `docker exec`: create an exec instance, start it (hijacked or plain stream), inspect it. */
import type { ContainerStore } from '@berth/engine';
import { z } from 'zod';
import { commonHeaders, type Handler, hijack, readJson, sendJson, sendStatus } from '../context';
import { defaultDetachKeys, detachKeysFilter, parseDetachKeys } from '../detach-keys';
import { ApiError } from '../errors';
import type { Router } from '../router';
import { encodeOutput } from '../stdio';

export interface ExecDeps {
  containerStore: ContainerStore;
}

const dimension = z
  .string()
  .regex(/^\d{1,5}$/)
  .transform(Number)
  .pipe(z.number().max(65_535));
const resizeQuery = z.object({ h: dimension, w: dimension });

const startBody = z.looseObject({ Detach: z.boolean().optional(), Tty: z.boolean().optional() });

function start(deps: ExecDeps): Handler {
  return async (ctx) => {
    const execId = ctx.params.id ?? '';
    const body = (await readJson(ctx, startBody.optional())) ?? {};
    const info = deps.containerStore.execInspect(execId) as {
      ProcessConfig: { tty: boolean };
      OpenStdin: boolean;
      DetachKeys: string;
    };
    const detachKeys = parseDetachKeys(info.DetachKeys || defaultDetachKeys);
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
    let detached = false;
    let onDetached = () => {};
    const detach = new Promise<void>((resolve) => {
      onDetached = resolve;
    });
    if (session.stdin) {
      const stdin = session.stdin;
      stdin.on('error', () => {});
      const filter = detachKeysFilter(detachKeys, () => {
        detached = true;
        filter.unpipe(stdin);
        stdin.destroy();
        onDetached();
      });
      input.pipe(filter).pipe(stdin);
      // A client gone without half-closing its input must not keep conmon's attach socket open.
      input.once('close', () => stdin.destroy());
    } else input.resume();
    const pump = (stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr') =>
      new Promise<void>((resolve) => {
        stream.on('data', (data: Buffer) => {
          if (!detached) write(encodeOutput({ stream: name, data }, { tty }));
        });
        stream.once('end', resolve);
        stream.once('error', () => resolve());
      });
    // A detached session leaves the process running, as dockerd does.
    await Promise.race([
      Promise.all([pump(session.stdout, 'stdout'), pump(session.stderr, 'stderr'), session.exit]),
      detach,
    ]);
    finish();
  };
}

export function registerExecRoutes(router: Router<Handler>, deps: ExecDeps): void {
  router
    .add('POST', '/containers/{id}/exec', async (ctx) => {
      const body = await readJson(ctx, z.looseObject({ DetachKeys: z.string().optional() }));
      if (body.DetachKeys) parseDetachKeys(body.DetachKeys);
      sendJson(ctx, 201, deps.containerStore.execCreate(ctx.params.id ?? '', body));
    })
    .add('POST', '/exec/{id}/start', start(deps))
    .add('GET', '/exec/{id}/json', async (ctx) => {
      sendJson(ctx, 200, deps.containerStore.execInspect(ctx.params.id ?? ''));
    })
    .add('POST', '/exec/{id}/resize', async (ctx) => {
      const size = resizeQuery.safeParse({ h: ctx.query.get('h'), w: ctx.query.get('w') });
      if (!size.success) throw new ApiError(400, 'invalid height or width');
      await deps.containerStore.execResize(ctx.params.id ?? '', size.data.h, size.data.w);
      sendStatus(ctx, 200);
    });
}
