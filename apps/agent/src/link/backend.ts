/**
 * The control-plane link's view of this host: the engine's containers, images, volumes and networks in the
 * protocol's shapes, and the commands and streams the control plane may ask for, each one engine call.
 */
import { readFile } from 'node:fs/promises';
import { arch, cpus, hostname, release, totalmem } from 'node:os';
import {
  type Engine,
  type ContainerSummary as EngineContainer,
  type EngineEvent,
  recreateContainer,
} from '@berth/engine';
import type { Command, ContainerSummary, EngineFacts, Inventory, StreamRequest } from '../protocol/messages';
import { BuildUploads, runBuild } from './build';
import type { InventoryDelta, LinkBackend, StreamInput, StreamSink } from './client';

export const AGENT_VERSION = '0.1.0';

function toSummary(c: EngineContainer): ContainerSummary {
  return {
    id: c.Id,
    name: (c.Names[0] ?? '').replace(/^\//, ''),
    image: c.Image,
    imageId: c.ImageID,
    command: c.Command.slice(0, 4096),
    state: c.State as ContainerSummary['state'],
    status: c.Status,
    created: c.Created,
    labels: c.Labels,
    ports: c.Ports.map((p) => ({
      privatePort: p.PrivatePort,
      ...(p.PublicPort !== undefined ? { publicPort: p.PublicPort } : {}),
      ...(p.IP ? { ip: p.IP } : {}),
      type: p.Type as 'tcp' | 'udp',
    })),
    networks: Object.keys(c.NetworkSettings.Networks),
  };
}

async function osName(): Promise<string> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
  return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? 'Linux';
}

/** Nanoseconds since the epoch as Docker prints log timestamps: `2026-11-23T07:30:00.123456789Z`. */
export function rfc3339Nano(nanoseconds: bigint): string {
  const iso = new Date(Number(nanoseconds / 1_000_000n)).toISOString();
  return `${iso.slice(0, 19)}.${(nanoseconds % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

export function engineBackend(engine: Engine): LinkBackend {
  const facts = async (): Promise<EngineFacts> => ({
    hostname: hostname(),
    os: await osName(),
    kernel: release(),
    arch: arch(),
    cpus: cpus().length,
    memoryBytes: totalmem(),
    runtimes: { runc: 'runc', monitor: 'conmon' },
    agentVersion: AGENT_VERSION,
  });
  const uploads = new BuildUploads(engine.dataRoot);
  const container = (id: string): ContainerSummary | undefined => {
    const [row] = engine.containers.list({ all: true, filters: { id: [id] } });
    return row ? toSummary(row) : undefined;
  };
  return {
    facts,
    async inventory(): Promise<Inventory> {
      return {
        facts: await facts(),
        containers: engine.containers.list({ all: true }).map(toSummary),
        images: engine.images.list().map((i) => ({
          id: i.Id,
          repoTags: i.RepoTags,
          repoDigests: i.RepoDigests,
          size: i.Size,
          created: i.Created,
        })),
        volumes: engine.volumes.list().map((v) => ({ name: v.Name, driver: v.Driver, labels: v.Labels })),
        networks: (await engine.networks.list()).map((n) => ({ id: n.Id, name: n.Name, driver: n.Driver })),
      };
    },
    async *deltas(signal: AbortSignal): AsyncIterable<InventoryDelta> {
      const queue: EngineEvent[] = [];
      let wake: (() => void) | undefined;
      const off = engine.events.on((event) => {
        // Healthcheck probes' exec events change nothing the control plane keeps; the health_status that a
        // probe's result may cause is sent.
        if (
          event.Action.startsWith('exec_') &&
          engine.containers.isHealthProbe(event.Actor.Attributes.execID)
        )
          return;
        queue.push(event);
        wake?.();
      });
      const onAbort = () => wake?.();
      signal.addEventListener('abort', onAbort);
      try {
        while (!signal.aborted) {
          const event = queue.shift();
          if (!event) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
            continue;
          }
          const delta: InventoryDelta = {
            event: {
              Type: event.Type,
              Action: event.Action,
              Actor: event.Actor,
              time: event.time,
              timeNano: event.timeNano,
            },
          };
          if (event.Type === 'container') {
            const summary = container(event.Actor.ID);
            if (summary) delta.container = summary;
            else if (event.Action === 'destroy') delta.removed = true;
          }
          yield delta;
        }
      } finally {
        off();
        signal.removeEventListener('abort', onAbort);
      }
    },
    async execute(command: Command, progress, signal): Promise<unknown> {
      const c = engine.containers;
      switch (command.kind) {
        case 'container.start':
          await c.start(command.containerId);
          return container(command.containerId);
        case 'container.stop':
          await c.stop(command.containerId, {
            ...(command.timeoutSeconds !== undefined ? { timeout: command.timeoutSeconds } : {}),
          });
          return container(command.containerId);
        case 'container.restart':
          await c.restart(command.containerId, {
            ...(command.timeoutSeconds !== undefined ? { timeout: command.timeoutSeconds } : {}),
          });
          return container(command.containerId);
        case 'container.kill':
          await c.kill(command.containerId, command.signal);
          return container(command.containerId);
        case 'container.pause':
          await c.pause(command.containerId);
          return container(command.containerId);
        case 'container.unpause':
          await c.unpause(command.containerId);
          return container(command.containerId);
        case 'container.remove':
          await c.remove(command.containerId, { force: command.force });
          return { removed: command.containerId };
        case 'container.inspect':
          return c.inspect(command.containerId);
        case 'container.stats':
          return c.stats(command.containerId);
        case 'container.recreate':
          return recreateContainer(engine, command.containerId, {
            pull: command.pull,
            ...(command.auth
              ? { credentials: { username: command.auth.username, password: command.auth.password } }
              : {}),
            onProgress: (p) => progress({ ...p }),
            signal,
          });
        case 'image.pull': {
          const image = await engine.images.pull(command.reference, {
            ...(command.auth
              ? { credentials: { username: command.auth.username, password: command.auth.password } }
              : {}),
            onProgress: (p) => progress({ ...p }),
            signal,
          });
          return { id: image.Id, repoTags: image.RepoTags };
        }
        case 'image.remove':
          return engine.images.remove(command.reference, { force: command.force });
        case 'build.context':
          return uploads.write(command);
        case 'image.build':
          // Not tied to the link's session: a build outlives a control-plane restart, and the redelivered
          // request (same id) is answered with its outcome.
          return runBuild(engine, uploads, command, progress);
        case 'container.deploy': {
          // As `docker run`: pull the image when the host does not have it yet.
          const present = await engine.images.get(command.image).then(
            () => true,
            () => false,
          );
          if (!present)
            await engine.images.pull(command.image, {
              ...(command.auth
                ? { credentials: { username: command.auth.username, password: command.auth.password } }
                : {}),
              onProgress: (p) => progress({ ...p }),
              signal,
            });
          const ports: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
          for (const spec of command.ports) {
            const match = /^(?:(\d+\.\d+\.\d+\.\d+):)?(?:(\d*):)?(\d+)(?:\/(tcp|udp))?$/.exec(spec);
            if (!match) throw new Error(`invalid port specification: ${spec}`);
            const key = `${match[3]}/${match[4] ?? 'tcp'}`;
            ports[key] = [...(ports[key] ?? []), { HostIp: match[1] ?? '', HostPort: match[2] ?? '' }];
          }
          const { Id } = await c.create(
            {
              Image: command.image,
              ...(command.cmd ? { Cmd: command.cmd } : {}),
              Env: command.env,
              Labels: command.labels,
              HostConfig: {
                Binds: command.volumes,
                PortBindings: ports,
                RestartPolicy: { Name: command.restartPolicy, MaximumRetryCount: 0 },
                ...(command.network ? { NetworkMode: command.network } : {}),
              },
            },
            command.name ? { name: command.name } : {},
          );
          await c.start(Id);
          return container(Id);
        }
      }
    },
    async openStream(
      request: StreamRequest,
      sink: StreamSink,
      signal: AbortSignal,
      input: StreamInput,
    ): Promise<{ exitCode?: number }> {
      if (request.kind === 'exec') return execStream(engine, request, sink, signal, input);
      // Awaited: while the control plane has no credit for this line, the follower is not read further.
      for await (const entry of engine.containers.logs(
        request.containerId,
        {
          stdout: true,
          stderr: true,
          follow: request.follow,
          ...(request.tail !== undefined ? { tail: request.tail } : {}),
          ...(request.since !== undefined ? { since: request.since } : {}),
        },
        signal,
      ))
        await sink.write({
          stream: entry.stream,
          data: entry.data,
          ...(request.timestamps ? { time: rfc3339Nano(entry.time) } : {}),
        });
      return {};
    },
  };
}

/**
 * A console: an exec with a TTY and stdin in a running container (the Docker API's exec), its output sent as
 * the sink's credit allows, keystrokes and sizes taken from the control plane. Closing the stream hangs the
 * process up (and kills it if it ignores that), so a closed browser tab leaves no shell behind.
 */
async function execStream(
  engine: Engine,
  request: Extract<StreamRequest, { kind: 'exec' }>,
  sink: StreamSink,
  signal: AbortSignal,
  input: StreamInput,
): Promise<{ exitCode?: number }> {
  const containers = engine.containers;
  const { Id } = containers.execCreate(request.containerId, {
    Cmd: request.cmd,
    Tty: request.tty,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
  });
  const session = await containers.execStart(Id);
  const stdin = session.stdin;
  stdin?.on('error', () => {});
  input.onInput((data) => stdin?.write(data));
  input.onResize((rows, cols) => void containers.execResize(Id, rows, cols).catch(() => {}));
  if (request.tty && request.rows && request.cols)
    await containers.execResize(Id, request.rows, request.cols).catch(() => {});
  // The exec may be gone by then (its container removed or recreated): nothing left to signal.
  const signalExec = (name: NodeJS.Signals) => {
    try {
      containers.execKill(Id, name);
    } catch {}
  };
  const hangUp = () => {
    signalExec('SIGHUP');
    setTimeout(() => signalExec('SIGKILL'), 2000).unref();
  };
  signal.addEventListener('abort', hangUp, { once: true });
  const pump = async (stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr') => {
    for await (const chunk of stream as AsyncIterable<Buffer>)
      await sink.write({ stream: name, data: chunk });
  };
  try {
    await Promise.all([pump(session.stdout, 'stdout'), pump(session.stderr, 'stderr')]);
    return { exitCode: await session.exit };
  } finally {
    signal.removeEventListener('abort', hangUp);
    stdin?.destroy();
  }
}
