/** `/_ping`, `/version`, `/info`, `/events`: the system endpoints every CLI command touches first. */

import { readFile } from 'node:fs/promises';
import { cpus, hostname, release, totalmem } from 'node:os';
import {
  type EngineEvent,
  type EngineEventType,
  type EventBus,
  type EventFilter,
  matchesEventFilter,
} from '@berth/engine';
import {
  commonHeaders,
  filtersParam,
  type Handler,
  type RequestContext,
  sendJson,
  startJsonStream,
} from '../context';
import { ApiError } from '../errors';
import type { Router } from '../router';
import { API_VERSION, BERTH_VERSION, MIN_API_VERSION } from '../version';

export interface SystemDeps {
  events: EventBus;
  dataRoot: string;
  /** Counts for `/info`; absent parts count as zero. */
  counts?: () => Promise<SystemCounts>;
}

export interface SystemCounts {
  containers: number;
  running: number;
  paused: number;
  stopped: number;
  images: number;
}

export function goArch(arch: string = process.arch): string {
  return ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[arch] ?? arch;
}

const ping: Handler = async (ctx) => {
  const headers = {
    ...commonHeaders(),
    'Builder-Version': '1',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
    'Content-Type': 'text/plain; charset=utf-8',
  };
  if (ctx.req.method === 'HEAD') {
    ctx.res.writeHead(200, { ...headers, 'Content-Length': 0 });
    ctx.res.end();
    return;
  }
  ctx.res.writeHead(200, { ...headers, 'Content-Length': 2 });
  ctx.res.end('OK');
};

const version: Handler = async (ctx) => {
  const details = {
    ApiVersion: API_VERSION,
    Arch: goArch(),
    Experimental: 'false',
    KernelVersion: release(),
    MinAPIVersion: MIN_API_VERSION,
    Os: 'linux',
  };
  sendJson(ctx, 200, {
    Platform: { Name: 'Berth' },
    Components: [{ Name: 'Engine', Version: BERTH_VERSION, Details: details }],
    Version: BERTH_VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: release(),
  });
};

async function osName(): Promise<{ pretty: string; version: string }> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const field = (key: string) => new RegExp(`^${key}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1] ?? '';
  return { pretty: field('PRETTY_NAME') || 'Linux', version: field('VERSION_ID') };
}

function info(deps: SystemDeps): Handler {
  return async (ctx) => {
    const counts = (await deps.counts?.()) ?? { containers: 0, running: 0, paused: 0, stopped: 0, images: 0 };
    const os = await osName();
    sendJson(ctx, 200, {
      ID: hostname(),
      Containers: counts.containers,
      ContainersRunning: counts.running,
      ContainersPaused: counts.paused,
      ContainersStopped: counts.stopped,
      Images: counts.images,
      Driver: 'overlay',
      DriverStatus: [],
      Plugins: {
        Volume: ['local'],
        Network: ['bridge', 'host', 'null'],
        Authorization: null,
        Log: ['k8s-file'],
      },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      Debug: false,
      NEventsListener: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'k8s-file',
      CgroupDriver: 'cgroupfs',
      KernelVersion: release(),
      OperatingSystem: os.pretty,
      OSVersion: os.version,
      OSType: 'linux',
      Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: {
        InsecureRegistryCIDRs: ['127.0.0.0/8'],
        IndexConfigs: {},
        Mirrors: [],
      },
      NCPU: cpus().length,
      MemTotal: totalmem(),
      DockerRootDir: deps.dataRoot,
      Name: hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: BERTH_VERSION,
      Runtimes: { runc: { path: 'runc' } },
      DefaultRuntime: 'runc',
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '' },
      LiveRestoreEnabled: true,
      Isolation: '',
      SecurityOptions: [],
      Warnings: null,
    });
  };
}

const typeFilters: Record<string, EngineEventType> = {
  container: 'container',
  image: 'image',
  volume: 'volume',
  network: 'network',
};

/** Maps `docker events --filter` keys onto the engine's filter. */
export function eventFilter(filters: Record<string, string[]>): EventFilter {
  const filter: EventFilter = {};
  const types = new Set<EngineEventType>();
  for (const t of filters.type ?? []) {
    const type = typeFilters[t];
    if (!type) throw new ApiError(400, `Invalid filter 'type=${t}'`);
    types.add(type);
  }
  const ids: string[] = [];
  for (const key of Object.keys(typeFilters)) {
    const values = filters[key];
    if (!values?.length) continue;
    ids.push(...values);
  }
  for (const key of Object.keys(filters)) {
    if (!['type', 'event', 'label', 'container', 'image', 'volume', 'network'].includes(key))
      throw new ApiError(400, `invalid filter '${key}'`);
  }
  if (types.size) filter.type = [...types];
  if (filters.event?.length) filter.action = filters.event;
  if (ids.length) filter.id = ids;
  if (filters.label?.length) filter.label = filters.label;
  return filter;
}

/** `since`/`until` as dockerd takes them: unix seconds with optional fraction, or an RFC 3339 time. */
export function timeParam(ctx: RequestContext, name: string): number | undefined {
  const raw = ctx.query.get(name);
  if (raw === null || raw === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new ApiError(400, `invalid value for ${name}: ${raw}`);
  return ms / 1000;
}

/** dockerd still sends the pre-1.22 fields (`status`, `id`, `from`) beside `Action` and `Actor`; templates use them. */
function withLegacyFields(event: EngineEvent): Record<string, unknown> {
  if (event.Type !== 'container' && event.Type !== 'image') return { ...event };
  return {
    status: event.Action,
    id: event.Actor.ID,
    ...(event.Type === 'container' && event.Actor.Attributes.image
      ? { from: event.Actor.Attributes.image }
      : {}),
    ...event,
  };
}

function events(deps: SystemDeps): Handler {
  return async (ctx) => {
    const filter = eventFilter(filtersParam(ctx.query));
    const since = timeParam(ctx, 'since');
    const until = timeParam(ctx, 'until');
    const stream = startJsonStream(ctx);
    // Listen before replaying history so no event falls between the two.
    const queue: EngineEvent[] = [];
    let wake: (() => void) | undefined;
    const off = deps.events.on((event) => {
      if (!matchesEventFilter(event, filter)) return;
      queue.push(event);
      wake?.();
    });
    const stop = () => wake?.();
    ctx.signal.addEventListener('abort', stop);
    const untilMs = until === undefined ? undefined : until * 1000;
    const timer = untilMs === undefined ? undefined : setTimeout(stop, Math.max(0, untilMs - Date.now()));
    const done = () => ctx.signal.aborted || (untilMs !== undefined && Date.now() >= untilMs);
    try {
      if (since !== undefined) {
        const seen = new Set(queue);
        for (const event of deps.events.history(Math.floor(since), filter)) {
          if (until !== undefined && event.time > until) break;
          if (!seen.has(event)) await stream.write(withLegacyFields(event));
        }
      }
      while (!done()) {
        const next = queue.shift();
        if (next) {
          if (until !== undefined && next.time > until) break;
          await stream.write(withLegacyFields(next));
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      off();
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', stop);
      stream.end();
    }
  };
}

export function registerSystemRoutes(router: Router<Handler>, deps: SystemDeps): void {
  router
    .add('GET', '/_ping', ping)
    .add('HEAD', '/_ping', ping)
    .add('GET', '/version', version)
    .add('GET', '/info', info(deps))
    .add('GET', '/events', events(deps));
}
