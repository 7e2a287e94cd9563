/**
 * Containers: create, start, stop, kill, restart, pause, remove, wait, rename, list, inspect, logs, exec,
 * restart policies and recovery after an agent restart. State lives in `<dataRoot>/containers/<id>/`; the
 * running container is owned by conmon + runc, so this class can go away and come back.
 */
import { randomBytes } from 'node:crypto';
import { constants, type FSWatcher, fstatSync, watch } from 'node:fs';
import { cp, lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, hostname as hostHostname } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import { EngineError } from '../errors';
import type { EventBus } from '../events';
import { mediaTypes } from '../images/oci';
import type { ImageService, ResolvedImage } from '../images/types';
import { unpackLayer } from '../images/unpack';
import type { NetworkManager } from '../networks/manager';
import type { NetworkSetupResult, PortBinding } from '../networks/types';
import { labelMatches, type VolumeStore } from '../volumes/store';
import { type PathStat, resolveInRoot, statInRoot, tarPath, tarRoot } from './archive';
import { attachStdinWriter, connectAttachSocket } from './attach';
import {
  type CreateContainerBody,
  createContainerSchema,
  notUpdatable,
  parsePortKey,
  updateContainerSchema,
} from './config';
import {
  checkHealthcheck,
  goDuration,
  HealthMonitor,
  healthcheckSchema,
  healthText,
  healthTiming,
  mergeHealthcheck,
  nextHealth,
  probeCommand,
} from './health';
import {
  type LogEntry,
  LogGenerations,
  type LogReadOptions,
  logLimits,
  openIfExists,
  readLogs,
} from './logs';
import { MountSpecError, planMounts } from './mounts';
import { generateName } from './names';
import {
  type ContainerConfig,
  type ContainerRecord,
  containerRecordSchema,
  createdState,
  type EndpointSettings,
  type MountPoint,
  zeroTime,
} from './record';
import {
  type Change,
  listChanges,
  mountRootfs,
  overlayOptions,
  prepareInitLayer,
  type RootfsLayout,
  rootfsLayout,
  unmountRootfs,
} from './rootfs';
import type { OciRuntime } from './runtime';
import { defaultSeccomp, parseSecurityOpt } from './security';
import { buildSpec, effectiveCapabilities, limitResources, type OciMount } from './spec';
import { type ContainerStats, emptyStats, hostCpu, parseNetDev, statsFromRunc } from './stats';
import { type ResolvedUser, resolveUserInRootfs } from './user';

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const nameRe = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export interface ContainerStoreOptions {
  dataRoot: string;
  runRoot: string;
  events: EventBus;
  images: ImageService;
  volumes: VolumeStore;
  runtime: OciRuntime;
  networks?: NetworkManager;
}

export interface ListOptions {
  all?: boolean;
  limit?: number;
  filters?: Record<string, string[]>;
}

export interface ExecConfig {
  Cmd: string[];
  Env?: string[] | null;
  User?: string;
  WorkingDir?: string;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Privileged?: boolean;
  DetachKeys?: string;
}

const execConfigSchema = z.looseObject({
  Cmd: z.array(z.string()).min(1, 'No exec command specified'),
  Env: z.array(z.string()).nullish(),
  User: z.string().optional(),
  WorkingDir: z.string().optional(),
  Tty: z.boolean().optional(),
  AttachStdin: z.boolean().optional(),
  AttachStdout: z.boolean().optional(),
  AttachStderr: z.boolean().optional(),
  Privileged: z.boolean().optional(),
  DetachKeys: z.string().optional(),
});

interface ExecInstance {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  exitCode: number | null;
  pid: number;
}

export interface ExecSession {
  stdin: Writable | null;
  stdout: Readable;
  stderr: Readable;
  exit: Promise<number>;
}

interface Waiter {
  condition: 'not-running' | 'next-exit' | 'removed';
  resolve: (value: { StatusCode: number; Error: { Message: string } | null }) => void;
}

/** A per-key queue, so two operations on one container never interleave. */
class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();
  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(task);
    this.#tails.set(key, next);
    try {
      return await next;
    } finally {
      if (this.#tails.get(key) === next) this.#tails.delete(key);
    }
  }
}

function parseEnv(list: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq === -1) {
      const value = process.env[item];
      if (value !== undefined) out.set(item, value);
    } else out.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return out;
}

function asArray(value: string[] | string | null | undefined): string[] | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? [value] : value;
}

function since(iso: string): string {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds < 60) return `${Math.floor(seconds)} second${Math.floor(seconds) === 1 ? '' : 's'}`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return minutes === 1 ? 'About a minute' : `${minutes} minutes`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return hours === 1 ? 'About an hour' : `${hours} hours`;
  return `${Math.floor(hours / 24)} days`;
}

export class ContainerStore implements AsyncDisposable {
  readonly #root: string;
  readonly #events: EventBus;
  readonly #images: ImageService;
  readonly #volumes: VolumeStore;
  readonly #runtime: OciRuntime;
  readonly #networking: NetworkManager | undefined;
  readonly #records = new Map<string, ContainerRecord>();
  readonly #lock = new KeyedLock();
  readonly #waiters = new Map<string, Waiter[]>();
  readonly #execs = new Map<string, ExecInstance>();
  /** Stdin attachments made before their container's conmon existed, settled at its next start. */
  readonly #stdinWaiters = new Map<string, Array<{ resolve: () => void; reject: (e: Error) => void }>>();
  readonly #restartTimers = new Map<string, NodeJS.Timeout>();
  readonly #stopping = new Set<string>();
  /** Log followers to wake when a container's state changes (exit, removal). */
  readonly #followers = new Map<string, Set<() => void>>();
  /** Rotated log generations kept for running containers with `max-file` above 1. */
  readonly #logGenerations = new Map<string, LogGenerations>();
  readonly #health = new Map<string, HealthMonitor>();
  readonly #probes = new Set<string>();
  /** Users looked up in images' /etc/passwd and /etc/group, by image id and USER (images never change). */
  readonly #imageUsers = new Map<string, ResolvedUser>();
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: ContainerStoreOptions) {
    this.#root = join(options.dataRoot, 'containers');
    this.#events = options.events;
    this.#images = options.images;
    this.#volumes = options.volumes;
    this.#runtime = options.runtime;
    this.#networking = options.networks;
  }

  static async open(options: ContainerStoreOptions): Promise<ContainerStore> {
    const store = new ContainerStore(options);
    await mkdir(store.#root, { recursive: true, mode: 0o710 });
    await options.runtime.prepare();
    for (const id of await readdir(store.#root)) {
      let text: string;
      try {
        text = await readFile(join(store.#root, id, 'container.json'), 'utf8');
      } catch {
        // No record at all: the agent died inside create (before the record) or remove (after it went).
        if (/^[0-9a-f]{64}$/.test(id)) await store.#discardLeftover(id);
        continue;
      }
      try {
        const record = containerRecordSchema.parse(JSON.parse(text));
        store.#records.set(record.id, record);
      } catch {
        // A damaged record: the directory stays for inspection, the container is skipped.
      }
    }
    options.images.setUsage((imageId) =>
      [...store.#records.values()].filter((r) => r.imageId === imageId).map((r) => r.id),
    );
    options.volumes.setUsage((name) =>
      [...store.#records.values()].filter((r) => r.mounts.some((m) => m.Name === name)).map((r) => r.id),
    );
    store.#watcher = watch(options.runtime.exitDir, (_event, file) => {
      if (file && store.#records.has(String(file))) void store.#checkExit(String(file));
    });
    // Exit files are the truth; the watcher is the fast path, this poll the safety net.
    store.#poll = setInterval(() => {
      for (const record of store.#records.values())
        if (record.state.Running) void store.#checkExit(record.id);
    }, 2000);
    store.#poll.unref();
    await store.#recover();
    // Containers that ran on through an agent restart are probed again, their health as it was.
    for (const record of store.#records.values()) if (record.state.Running) store.#startHealth(record);
    options.networks?.setUsage((name) =>
      [...store.#records.values()].filter((r) => name in r.networks).map((r) => r.id),
    );
    await options.networks?.sweep(new Set(store.runningIds()));
    return store;
  }

  /** After an agent restart: reconcile records with what runc reports, then honour restart policies. */
  async #discardLeftover(id: string): Promise<void> {
    const layout = this.#layout(id);
    await this.#runtime.kill(id, 'SIGKILL', true).catch(() => {});
    await this.#runtime.delete(id).catch(() => {});
    await unmountRootfs(layout).catch(() => {});
    await rm(layout.dir, { recursive: true, force: true });
  }

  async #recover(): Promise<void> {
    for (const record of this.#records.values()) {
      if (!record.state.Running && !record.state.Restarting) {
        // The agent died between `runc start` and saving the record: the container runs; adopt it.
        const state = this.#runtime.hasState(record.id) ? await this.#runtime.state(record.id) : undefined;
        if (state?.status === 'running' || state?.status === 'paused') {
          record.state = {
            ...record.state,
            Status: state.status,
            Running: true,
            Paused: state.status === 'paused',
            Pid: state.pid,
            Error: '',
            StartedAt: new Date().toISOString(),
            FinishedAt: zeroTime,
          };
          await this.#save(record);
        } else if (state) await this.#runtime.delete(record.id).catch(() => {});
        continue;
      }
      const state = await this.#runtime.state(record.id);
      if (state && (state.status === 'running' || state.status === 'paused')) {
        record.state.Paused = state.status === 'paused';
        record.state.Status = state.status;
        record.state.Pid = state.pid;
        await this.#save(record);
        const { maxFiles } = (() => {
          try {
            return logLimits(record.hostConfig.LogConfig?.Config);
          } catch {
            return { maxFiles: 1 };
          }
        })();
        if (maxFiles > 1) this.#keepLogGenerations(record, maxFiles);
        continue;
      }
      await this.#checkExit(record.id, true);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    if (this.#poll) clearInterval(this.#poll);
    for (const timer of this.#restartTimers.values()) clearTimeout(timer);
    this.#restartTimers.clear();
    for (const keeper of this.#logGenerations.values()) keeper.close();
    this.#logGenerations.clear();
    for (const monitor of this.#health.values()) monitor.stop();
    this.#health.clear();
  }

  // ---- healthchecks ----

  /** Probes a running container on its healthcheck's interval (nothing for one without a healthcheck). */
  #startHealth(record: ContainerRecord): void {
    this.#stopHealth(record.id);
    const check = record.config.Healthcheck;
    const command = probeCommand(check);
    if (!check || !command || this.#closed) return;
    const timing = healthTiming(check);
    this.#health.set(
      record.id,
      new HealthMonitor({
        intervalMs: timing.intervalMs,
        probe: (signal) => this.#probeHealth(record, command, timing, signal),
      }).start(),
    );
  }

  #stopHealth(id: string): void {
    this.#health.get(id)?.stop();
    this.#health.delete(id);
  }

  async #probeHealth(
    record: ContainerRecord,
    command: string[],
    timing: ReturnType<typeof healthTiming>,
    signal: AbortSignal,
  ): Promise<void> {
    // A paused container cannot run its probe; dockerd skips it rather than count a failure.
    if (!record.state.Running || record.state.Paused) return;
    const start = new Date();
    const { exitCode, output } = await this.#runProbe(record.id, command, timing.timeoutMs, signal);
    if (signal.aborted) return;
    const end = new Date();
    await this.#lock.run(record.id, async () => {
      const health = record.state.Health;
      if (!record.state.Running || !health || !this.#records.has(record.id)) return;
      const next = nextHealth(
        health,
        { start, end, exitCode, output },
        { startedAt: new Date(record.state.StartedAt), ...timing },
      );
      record.state.Health = next;
      await this.#save(record);
      if (next.Status !== health.Status) this.#emit(record, `health_status: ${next.Status}`);
    });
  }

  /** One probe: the test run as an exec (dockerd's are execs too), its output kept, killed at the timeout. */
  async #runProbe(
    id: string,
    command: string[],
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<{ exitCode: number; output: string }> {
    const { Id } = this.execCreate(
      id,
      { Cmd: command, AttachStdout: true, AttachStderr: true },
      { healthProbe: true },
    );
    let exited: Promise<unknown> = Promise.resolve();
    try {
      const session = await this.execStart(Id);
      exited = session.exit;
      let output = '';
      const collect = (chunk: Buffer) => {
        if (output.length < 8192) output += chunk.toString();
      };
      session.stdout.on('data', collect);
      session.stderr.on('data', collect);
      const ended = (stream: Readable) =>
        new Promise<void>((resolve) => {
          if (stream.readableEnded || stream.destroyed) resolve();
          else stream.once('close', () => resolve()).once('end', () => resolve());
        });
      const finished = Promise.all([session.exit, ended(session.stdout), ended(session.stderr)]).then(
        ([code]) => code,
      );
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        finished,
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        }),
        new Promise<'aborted'>((resolve) =>
          signal.addEventListener('abort', () => resolve('aborted'), { once: true }),
        ),
      ]);
      clearTimeout(timer);
      if (typeof outcome === 'number') return { exitCode: outcome, output };
      try {
        this.execKill(Id, 'SIGKILL');
      } catch {}
      return { exitCode: -1, output: `Health check exceeded timeout (${goDuration(timeoutMs)})` };
    } finally {
      this.#execs.delete(Id);
      // Until its exec_die is out: a killed probe's comes after this returns.
      void exited.catch(() => undefined).finally(() => this.#probes.delete(Id));
    }
  }

  /**
   * Whether an exec is a healthcheck's probe. Their exec events are dockerd's too, so `docker events` shows
   * them; the control plane's link leaves them out, as one per probe per container would be all it carried.
   */
  isHealthProbe(execId: string | undefined): boolean {
    return execId !== undefined && this.#probes.has(execId);
  }

  #keepLogGenerations(record: ContainerRecord, maxFiles: number): void {
    this.#logGenerations.get(record.id)?.close();
    try {
      this.#logGenerations.set(record.id, LogGenerations.keep(record.logPath, maxFiles));
    } catch {
      // Without the keeper, conmon's cap still holds; only older generations are not kept.
    }
  }

  /** The last look at a stopped container's log: conmon may have started it afresh just before exiting. */
  #releaseLogGenerations(id: string): void {
    const keeper = this.#logGenerations.get(id);
    if (!keeper) return;
    this.#logGenerations.delete(id);
    keeper.close();
    try {
      keeper.check();
    } catch {}
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- lookup ----

  #dir(id: string): string {
    return join(this.#root, id);
  }

  #layout(id: string): RootfsLayout {
    return rootfsLayout(this.#dir(id));
  }

  /** Full id, unique id prefix, or name (with or without the leading slash), as Docker resolves them. */
  #find(idOrName: string): ContainerRecord {
    const wanted = idOrName.startsWith('/') ? idOrName.slice(1) : idOrName;
    const exact = this.#records.get(wanted);
    if (exact) return exact;
    for (const record of this.#records.values()) if (record.name === wanted) return record;
    if (/^[0-9a-f]+$/.test(wanted)) {
      const matches = [...this.#records.values()].filter((r) => r.id.startsWith(wanted));
      if (matches.length === 1 && matches[0]) return matches[0];
      if (matches.length > 1)
        throw new EngineError('invalid_argument', `multiple IDs found with provided prefix: ${wanted}`);
    }
    throw new EngineError('not_found', `No such container: ${idOrName}`);
  }

  has(idOrName: string): boolean {
    try {
      this.#find(idOrName);
      return true;
    } catch {
      return false;
    }
  }

  async #save(record: ContainerRecord): Promise<void> {
    if (!this.#records.has(record.id)) return;
    const file = join(this.#dir(record.id), 'container.json');
    await writeFile(`${file}.tmp`, JSON.stringify(record));
    await rename(`${file}.tmp`, file);
  }

  #attributes(record: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...record.config.Labels, image: record.config.Image, name: record.name, ...extra };
  }

  #emit(record: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.#events.emit('container', action, record.id, this.#attributes(record, extra));
  }

  // ---- create ----

  async create(body: unknown, options: { name?: string } = {}): Promise<{ Id: string; Warnings: string[] }> {
    const parsed = createContainerSchema.safeParse(body);
    if (!parsed.success)
      throw new EngineError(
        'invalid_argument',
        parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
      );
    const request = parsed.data;
    // Refused at create, as dockerd does, not at the first start.
    parseSecurityOpt(request.HostConfig?.SecurityOpt ?? []);
    logLimits(request.HostConfig?.LogConfig?.Config);
    let name = options.name;
    if (name !== undefined) {
      if (!nameRe.test(name))
        throw new EngineError(
          'invalid_argument',
          `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
        );
      name = name.replace(/^\//, '');
      const owner = [...this.#records.values()].find((r) => r.name === name);
      if (owner)
        throw new EngineError(
          'conflict',
          `Conflict. The container name "/${name}" is already in use by container "${owner.id}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
    }
    let image: ResolvedImage;
    try {
      image = await this.#images.get(request.Image);
    } catch (error) {
      if (EngineError.is(error, 'not_found'))
        throw new EngineError('not_found', `No such image: ${request.Image}`);
      throw error;
    }
    const id = randomBytes(32).toString('hex');
    const finalName = name ?? generateName((n) => [...this.#records.values()].some((r) => r.name === n));
    const config = this.#mergeConfig(request, image, id);
    const hostConfig = request.HostConfig ?? {};
    if (!hostConfig.NetworkMode || hostConfig.NetworkMode === 'default') hostConfig.NetworkMode = 'bridge';
    hostConfig.RestartPolicy ??= { Name: '', MaximumRetryCount: 0 };
    if (hostConfig.AutoRemove && !['', 'no'].includes(hostConfig.RestartPolicy.Name))
      throw new EngineError('invalid_argument', "can't create 'AutoRemove' container with restart policy");
    effectiveCapabilities(hostConfig.CapAdd ?? [], hostConfig.CapDrop ?? [], false);
    for (const key of Object.keys(hostConfig.PortBindings ?? {})) this.#checkPort(key);
    for (const key of Object.keys(config.ExposedPorts ?? {})) this.#checkPort(key);
    let mounts: MountPoint[];
    try {
      mounts = planMounts({
        binds: hostConfig.Binds ?? [],
        mounts: hostConfig.Mounts ?? [],
        tmpfs: hostConfig.Tmpfs ?? {},
        declaredVolumes: Object.keys({ ...(image.config.Volumes ?? {}), ...(request.Volumes ?? {}) }),
      });
    } catch (error) {
      if (error instanceof MountSpecError) throw new EngineError('invalid_argument', error.message);
      throw error;
    }
    const networks: Record<string, EndpointSettings> = {};
    let mode = hostConfig.NetworkMode;
    if (mode !== 'host' && mode !== 'none' && !mode.startsWith('container:')) {
      const requested = request.NetworkingConfig?.EndpointsConfig ?? {};
      const endpointConfig = requested[mode];
      if (this.#networking) {
        // A network named by id or prefix is recorded under its name, as dockerd does.
        mode = (await this.#networking.resolve(mode)).name;
        hostConfig.NetworkMode = mode;
      }
      networks[mode] = this.#endpoint(
        endpointConfig?.Aliases ?? null,
        endpointConfig?.IPAMConfig?.IPv4Address,
      );
    } else if (mode.startsWith('container:')) {
      throw new EngineError('invalid_argument', 'network mode container:<name> is not supported yet');
    } else networks[mode] = this.#endpoint(null);
    const dir = this.#dir(id);
    await mkdir(dir, { recursive: true, mode: 0o710 });
    try {
      for (const mount of mounts) {
        if (mount.Type !== 'volume') continue;
        if (!mount.Name) {
          const volume = await this.#volumes.createAnonymous();
          mount.Name = volume.Name;
          mount.Anonymous = true;
        } else if (!this.#volumes.has(mount.Name)) await this.#volumes.create({ Name: mount.Name });
        mount.Source = this.#volumes.mountpoint(mount.Name);
      }
      await prepareInitLayer(this.#layout(id));
      // conmon appends to it; it exists from create on so an attach made before start can hold it open.
      await writeFile(join(dir, 'container.log'), '', { flag: 'a', mode: 0o640 });
      const record: ContainerRecord = {
        id,
        name: finalName,
        created: new Date().toISOString(),
        imageId: image.id,
        config,
        hostConfig,
        mounts,
        networks,
        ports: [],
        state: createdState(),
        restartCount: 0,
        manuallyStopped: false,
        hostnamePath: join(dir, 'hostname'),
        hostsPath: join(dir, 'hosts'),
        resolvConfPath: join(dir, 'resolv.conf'),
        logPath: join(dir, 'container.log'),
      };
      this.#records.set(id, record);
      await this.#save(record);
      this.#emit(record, 'create');
      return { Id: id, Warnings: [] };
    } catch (error) {
      this.#records.delete(id);
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  #checkPort(key: string): void {
    try {
      parsePortKey(key);
    } catch (error) {
      throw new EngineError('invalid_argument', (error as Error).message);
    }
  }

  #endpoint(aliases: string[] | null, ipv4?: string): EndpointSettings {
    return {
      Aliases: aliases,
      NetworkID: '',
      EndpointID: '',
      Gateway: '',
      IPAddress: '',
      IPPrefixLen: 0,
      MacAddress: '',
      IPAMConfig: ipv4 ? { IPv4Address: ipv4 } : null,
    };
  }

  #mergeConfig(request: CreateContainerBody, image: ResolvedImage, id: string): ContainerConfig {
    const imageConfig = image.config;
    const env = parseEnv(imageConfig.Env ?? []);
    for (const [key, value] of parseEnv(request.Env ?? [])) env.set(key, value);
    if (!env.has('PATH')) env.set('PATH', defaultPath);
    const requestEntrypoint = asArray(request.Entrypoint);
    let entrypoint = requestEntrypoint ?? imageConfig.Entrypoint ?? null;
    let cmd = asArray(request.Cmd);
    // As dockerd: an explicit entrypoint drops the image's CMD; `--entrypoint ""` clears the image's one.
    if (requestEntrypoint && requestEntrypoint.length === 1 && requestEntrypoint[0] === '') entrypoint = null;
    if (!cmd && !requestEntrypoint) cmd = imageConfig.Cmd ?? null;
    if (!(entrypoint?.length || cmd?.length))
      throw new EngineError('invalid_argument', 'No command specified');
    checkHealthcheck(request.Healthcheck);
    const imageHealthcheck = healthcheckSchema.safeParse(imageConfig.Healthcheck);
    const healthcheck = mergeHealthcheck(
      request.Healthcheck,
      imageHealthcheck.success ? imageHealthcheck.data : undefined,
    );
    const workingDir = request.WorkingDir || imageConfig.WorkingDir || '';
    if (workingDir && !workingDir.startsWith('/'))
      throw new EngineError(
        'invalid_argument',
        `the working directory '${workingDir}' is invalid, it needs to be an absolute path`,
      );
    return {
      Hostname: request.Hostname || id.slice(0, 12),
      Domainname: request.Domainname ?? '',
      User: request.User || imageConfig.User || '',
      AttachStdin: request.AttachStdin ?? false,
      AttachStdout: request.AttachStdout ?? false,
      AttachStderr: request.AttachStderr ?? false,
      ExposedPorts: Object.fromEntries(
        Object.keys({
          ...(imageConfig.ExposedPorts ?? {}),
          ...(request.ExposedPorts ?? {}),
          ...(request.HostConfig?.PortBindings ?? {}),
        }).map((k) => [k.includes('/') ? k : `${k}/tcp`, {}]),
      ),
      Tty: request.Tty ?? false,
      OpenStdin: request.OpenStdin ?? false,
      StdinOnce: request.StdinOnce ?? false,
      Env: [...env].map(([k, v]) => `${k}=${v}`),
      Cmd: cmd,
      Image: request.Image,
      Volumes: (() => {
        const paths = Object.keys({ ...(imageConfig.Volumes ?? {}), ...(request.Volumes ?? {}) });
        return paths.length ? Object.fromEntries(paths.map((p) => [p, {}])) : null;
      })(),
      WorkingDir: workingDir,
      Entrypoint: entrypoint,
      Labels: { ...(imageConfig.Labels ?? {}), ...(request.Labels ?? {}) },
      ...(request.StopSignal || imageConfig.StopSignal
        ? { StopSignal: request.StopSignal || imageConfig.StopSignal }
        : {}),
      ...(typeof request.StopTimeout === 'number' ? { StopTimeout: request.StopTimeout } : {}),
      ...(healthcheck ? { Healthcheck: healthcheck } : {}),
    };
  }

  // ---- start ----

  async start(idOrName: string): Promise<void> {
    const record = this.#find(idOrName);
    await this.#lock.run(record.id, () => this.#start(record));
  }

  async #start(record: ContainerRecord, fromRestartPolicy = false): Promise<void> {
    if (!this.#records.has(record.id)) throw new EngineError('not_found', `No such container: ${record.id}`);
    if (record.state.Paused)
      throw new EngineError('conflict', 'cannot start a paused container, try unpause instead');
    if (record.state.Running) throw new EngineError('not_modified', 'container already started');
    const timer = this.#restartTimers.get(record.id);
    if (timer && !fromRestartPolicy) {
      clearTimeout(timer);
      this.#restartTimers.delete(record.id);
    }
    const layout = this.#layout(record.id);
    let network: NetworkSetupResult | undefined;
    let networkSetup: Promise<NetworkSetupResult> | undefined;
    let namespace: Promise<string> | undefined;
    try {
      await this.#runtime.delete(record.id);
      await rm(join(this.#runtime.exitDir, record.id), { force: true });
      await rm(join(layout.dir, 'exit'), { force: true });
      await rm(join(layout.dir, 'oom'), { force: true });
      const mode = record.hostConfig.NetworkMode ?? 'bridge';
      if (mode !== 'host' && mode !== 'none' && this.#networking) {
        namespace = this.#networking.createNamespace(record.id);
        namespace.catch(() => {});
      }
      const imageDirs = this.#images.snapshotDirs(record.imageId);
      // A view left by `docker cp` of the stopped container: runc's overlay takes the same upper dir.
      await unmountRootfs(layout);
      const user = await this.#prepareFiles(record, layout, imageDirs);
      let networkSpec: Parameters<typeof buildSpec>[0]['network'] = { mode: 'private' };
      if (mode === 'host') networkSpec = { mode: 'host' };
      else if (namespace && this.#networking) {
        // netavark (a few dozen iptables calls) runs while conmon and runc create the container: runc needs
        // only the namespace to exist, and the network is complete before the process is started.
        const netnsPath = await namespace;
        networkSetup = this.#networking.setup({
          containerId: record.id,
          containerName: record.name,
          hostname: record.config.Hostname,
          endpoints: Object.entries(record.networks).map(([name, endpoint]) => ({
            network: name,
            aliases: endpoint.Aliases ?? [],
            ...(endpoint.IPAMConfig?.IPv4Address ? { ipv4Address: endpoint.IPAMConfig.IPv4Address } : {}),
          })),
          portBindings: this.#portBindings(record),
        });
        networkSetup.catch(() => {});
        networkSpec = { mode: 'path', path: netnsPath };
      }
      // Written again once the network is known; the bind mounts need the files from create on.
      await this.#writeEtcFiles(record, undefined);
      const hostConfig = record.hostConfig;
      const privileged = hostConfig.Privileged ?? false;
      const security = parseSecurityOpt(hostConfig.SecurityOpt ?? []);
      const capabilities = effectiveCapabilities(
        hostConfig.CapAdd ?? [],
        hostConfig.CapDrop ?? [],
        privileged,
      );
      const env = [...record.config.Env];
      if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${record.config.Hostname}`);
      if (record.config.Tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
      if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
      const spec = buildSpec({
        rootfs: layout.merged,
        rootfsOverlay: overlayOptions(layout, imageDirs),
        readonlyRootfs: hostConfig.ReadonlyRootfs ?? false,
        args: [...(record.config.Entrypoint ?? []), ...(record.config.Cmd ?? [])],
        env,
        cwd: record.config.WorkingDir || '/',
        user,
        terminal: record.config.Tty,
        hostname: mode === 'host' ? hostHostname() : record.config.Hostname,
        capabilities,
        privileged,
        noNewPrivileges: security.noNewPrivileges,
        ...(privileged || security.seccomp === 'unconfined' ? {} : { seccomp: defaultSeccomp(capabilities) }),
        network: networkSpec,
        mounts: this.#ociMounts(record),
        cgroupsPath: `/berth/${record.id}`,
        ...(hostConfig.Memory ? { memory: hostConfig.Memory } : {}),
        ...(hostConfig.MemorySwap ? { memorySwap: hostConfig.MemorySwap } : {}),
        ...(hostConfig.NanoCpus ? { nanoCpus: hostConfig.NanoCpus } : {}),
        ...(hostConfig.CpuShares ? { cpuShares: hostConfig.CpuShares } : {}),
        ...(hostConfig.PidsLimit ? { pidsLimit: hostConfig.PidsLimit } : {}),
        ...(hostConfig.ShmSize ? { shmSize: hostConfig.ShmSize } : {}),
      });
      await writeFile(join(layout.dir, 'config.json'), JSON.stringify(spec));
      const { maxSize, maxFiles } = logLimits(hostConfig.LogConfig?.Config);
      const pid = await this.#runtime.create({
        id: record.id,
        name: record.name,
        bundle: layout.dir,
        logPath: record.logPath,
        ...(maxSize ? { logSizeMax: maxSize } : {}),
        persistDir: layout.dir,
        tty: record.config.Tty,
        stdin: record.config.OpenStdin,
        stdinOnce: record.config.StdinOnce,
      });
      if (networkSetup) {
        network = await networkSetup;
        await this.#writeEtcFiles(record, network);
      }
      // conmon's attach socket exists now; input attached before start reaches the process from its start.
      for (const waiter of this.#stdinWaiters.get(record.id) ?? []) waiter.resolve();
      this.#stdinWaiters.delete(record.id);
      await this.#startProcess(record.id, layout.dir, pid);
      if (maxFiles > 1) this.#keepLogGenerations(record, maxFiles);
      record.state = {
        ...record.state,
        Status: 'running',
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: pid,
        ExitCode: 0,
        Error: '',
        StartedAt: new Date().toISOString(),
        FinishedAt: zeroTime,
      };
      // Each start begins as `starting`, as dockerd's does; the log of earlier runs stays.
      if (probeCommand(record.config.Healthcheck))
        record.state.Health = { Status: 'starting', FailingStreak: 0, Log: record.state.Health?.Log ?? [] };
      if (!fromRestartPolicy) record.manuallyStopped = false;
      if (network) this.#applyNetwork(record, network);
      await this.#save(record);
      this.#emit(record, 'start');
      this.#startHealth(record);
    } catch (error) {
      await this.#runtime.delete(record.id).catch(() => {});
      if (namespace) {
        await Promise.allSettled([namespace, networkSetup]);
        await this.#networking?.teardown(record.id).catch(() => {});
      }
      await unmountRootfs(layout).catch(() => {});
      const message = (error as Error).message;
      record.state = {
        ...record.state,
        Running: false,
        Restarting: false,
        Pid: 0,
        Error: message,
        ExitCode: /executable file not found|no such file or directory/.test(message) ? 127 : 126,
        Status: record.state.StartedAt === zeroTime ? 'created' : 'exited',
      };
      await this.#save(record).catch(() => {});
      if (EngineError.is(error)) throw error;
      throw new EngineError('failed', message, { cause: error });
    }
  }

  #portBindings(record: ContainerRecord): PortBinding[] {
    const out: PortBinding[] = [];
    const bindings = record.hostConfig.PortBindings ?? {};
    for (const [key, list] of Object.entries(bindings)) {
      const { port, protocol } = parsePortKey(key);
      for (const binding of list ?? [{ HostIp: '', HostPort: '' }]) {
        const hostPort = binding.HostPort ? Number(binding.HostPort) : 0;
        if (!Number.isInteger(hostPort) || hostPort < 0 || hostPort > 65535)
          throw new EngineError('invalid_argument', `invalid host port: ${binding.HostPort}`);
        out.push({ containerPort: port, protocol, hostIp: binding.HostIp ?? '', hostPort });
      }
    }
    if (record.hostConfig.PublishAllPorts)
      for (const key of Object.keys(record.config.ExposedPorts ?? {})) {
        const { port, protocol } = parsePortKey(key);
        if (!out.some((b) => b.containerPort === port && b.protocol === protocol))
          out.push({ containerPort: port, protocol, hostIp: '', hostPort: 0 });
      }
    return out;
  }

  #applyNetwork(record: ContainerRecord, network: NetworkSetupResult): void {
    for (const endpoint of network.endpoints) {
      const key = Object.keys(record.networks).find((n) => n === endpoint.network) ?? endpoint.network;
      const previous = record.networks[key];
      record.networks[key] = {
        Aliases: previous?.Aliases ?? endpoint.aliases,
        NetworkID: endpoint.networkId,
        EndpointID: endpoint.endpointId,
        Gateway: endpoint.gateway,
        IPAddress: endpoint.ipAddress,
        IPPrefixLen: endpoint.prefixLength,
        MacAddress: endpoint.macAddress,
        IPAMConfig: previous?.IPAMConfig ?? null,
      };
    }
    record.ports = network.portBindings;
  }

  /**
   * What start needs from the container's files before runc mounts them in the container's namespace: the
   * user (from /etc/passwd and /etc/group) and the copy-up of new volumes. The files are mounted on the host
   * only when one of them must be read: an image's users are looked up once while the container has not
   * changed its /etc.
   */
  async #prepareFiles(
    record: ContainerRecord,
    layout: RootfsLayout,
    imageDirs: string[],
  ): Promise<ResolvedUser> {
    const toSeed: MountPoint[] = [];
    for (const mount of record.mounts) {
      // As `docker run -v`: a missing host path becomes a directory.
      if (mount.Type === 'bind') await mkdir(mount.Source, { recursive: true });
      else if (await this.#needsCopyUp(mount)) toSeed.push(mount);
    }
    const userKey = `${record.imageId}\n${record.config.User}`;
    const pristineEtc = !(await exists(join(layout.upper, 'etc')));
    let user = pristineEtc ? this.#imageUsers.get(userKey) : undefined;
    if (user && !toSeed.length) return user;
    await mountRootfs(layout, imageDirs);
    try {
      if (!user) {
        user = await resolveUserInRootfs(record.config.User, layout.merged).catch((error: Error) => {
          throw new EngineError('failed', error.message);
        });
        if (pristineEtc) {
          if (this.#imageUsers.size >= 256) this.#imageUsers.clear();
          this.#imageUsers.set(userKey, user);
        }
      }
      for (const mount of toSeed) {
        // A new, empty volume takes the image's content at its mount point (Docker's copy-up).
        const from = join(layout.merged, mount.Destination);
        const info = await stat(from).catch(() => undefined);
        if (info?.isDirectory())
          await cp(from, mount.Source, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
        await writeFile(join(mount.Source, '..', 'copied-up'), '');
      }
      return user;
    } finally {
      await unmountRootfs(layout);
    }
  }

  async #needsCopyUp(mount: MountPoint): Promise<boolean> {
    if (mount.Type !== 'volume' || mount.NoCopy) return false;
    if ((await readdir(mount.Source).catch(() => [])).length) return false;
    return !(await exists(join(mount.Source, '..', 'copied-up')));
  }

  #ociMounts(record: ContainerRecord): OciMount[] {
    const mounts: OciMount[] = [
      {
        destination: '/etc/resolv.conf',
        type: 'bind',
        source: record.resolvConfPath,
        options: ['rbind', 'rprivate'],
      },
      {
        destination: '/etc/hostname',
        type: 'bind',
        source: record.hostnamePath,
        options: ['rbind', 'rprivate'],
      },
      { destination: '/etc/hosts', type: 'bind', source: record.hostsPath, options: ['rbind', 'rprivate'] },
    ];
    for (const mount of record.mounts) {
      if (mount.Type === 'tmpfs') {
        const options = ['nosuid', 'nodev', 'noexec'];
        if (mount.TmpfsOptions?.SizeBytes) options.push(`size=${mount.TmpfsOptions.SizeBytes}`);
        if (mount.TmpfsOptions?.Mode) options.push(`mode=${mount.TmpfsOptions.Mode.toString(8)}`);
        if (mount.Mode) options.push(...mount.Mode.split(',').filter(Boolean));
        if (!mount.RW) options.push('ro');
        mounts.push({ destination: mount.Destination, type: 'tmpfs', source: 'tmpfs', options });
        continue;
      }
      const options = ['rbind', mount.Propagation || 'rprivate', mount.RW ? 'rw' : 'ro'];
      mounts.push({ destination: mount.Destination, type: 'bind', source: mount.Source, options });
    }
    return mounts;
  }

  async #writeEtcFiles(record: ContainerRecord, network: NetworkSetupResult | undefined): Promise<void> {
    const mode = record.hostConfig.NetworkMode;
    if (mode === 'host') {
      await writeFile(record.hostsPath, await readFile('/etc/hosts').catch(() => ''));
      await writeFile(record.hostnamePath, `${hostHostname()}\n`);
    } else {
      const lines = [
        '127.0.0.1\tlocalhost',
        '::1\tlocalhost ip6-localhost ip6-loopback',
        'fe00::0\tip6-localnet',
        'ff00::0\tip6-mcastprefix',
        'ff02::1\tip6-allnodes',
        'ff02::2\tip6-allrouters',
      ];
      for (const extra of record.hostConfig.ExtraHosts ?? []) {
        const [host, ip] = extra.split(':', 2);
        if (host && ip) lines.push(`${ip}\t${host}`);
      }
      const address = network?.endpoints[0]?.ipAddress;
      if (address) lines.push(`${address}\t${record.config.Hostname}`);
      await writeFile(record.hostsPath, `${lines.join('\n')}\n`);
      await writeFile(record.hostnamePath, `${record.config.Hostname}\n`);
    }
    const dns = record.hostConfig.Dns?.length ? record.hostConfig.Dns : network?.dnsServers;
    const search = record.hostConfig.DnsSearch?.length ? record.hostConfig.DnsSearch : network?.dnsSearch;
    if (dns?.length) {
      const lines = dns.map((server) => `nameserver ${server}`);
      if (search?.length) lines.push(`search ${search.join(' ')}`);
      await writeFile(record.resolvConfPath, `${lines.join('\n')}\n`);
    } else {
      const host = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
      // The host's loopback resolvers are unreachable from a container's own network namespace.
      const filtered =
        mode === 'host'
          ? host
          : host
              .split('\n')
              .filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l))
              .join('\n');
      await writeFile(record.resolvConfPath, filtered);
    }
  }

  // ---- exits, restart policies ----

  async #checkExit(id: string, recovering = false): Promise<void> {
    const record = this.#records.get(id);
    if (!record || (!record.state.Running && !recovering)) return;
    const layout = this.#layout(id);
    const exit = await this.#runtime.exitCode(id, layout.dir);
    if (!exit) {
      if (!recovering) return;
      const state = await this.#runtime.state(id);
      if (state && state.status !== 'stopped') return;
    }
    await this.#lock.run(id, () => this.#handleExit(record, exit ?? { code: 255, oom: false }));
  }

  async #handleExit(record: ContainerRecord, exit: { code: number; oom: boolean }): Promise<void> {
    if (!record.state.Running && !record.state.Restarting) return;
    this.#stopHealth(record.id);
    this.#releaseLogGenerations(record.id);
    // runc's state is removed by conmon's exit command; start and remove delete whatever is left.
    const networking =
      this.#networking && record.hostConfig.NetworkMode !== 'host' && record.hostConfig.NetworkMode !== 'none'
        ? this.#networking
        : undefined;
    await Promise.all([
      networking?.teardown(record.id).catch(() => {}),
      unmountRootfs(this.#layout(record.id)).catch(() => {}),
    ]);
    const finishedAt = new Date().toISOString();
    const ranMs = Date.now() - Date.parse(record.state.StartedAt);
    record.state = {
      ...record.state,
      Status: 'exited',
      Running: false,
      Paused: false,
      Restarting: false,
      Pid: 0,
      ExitCode: exit.code,
      OOMKilled: exit.oom,
      FinishedAt: finishedAt,
    };
    for (const endpoint of Object.values(record.networks)) {
      endpoint.IPAddress = '';
      endpoint.IPPrefixLen = 0;
      endpoint.Gateway = '';
      endpoint.MacAddress = '';
      endpoint.EndpointID = '';
    }
    record.ports = [];
    for (const exec of this.#execs.values()) if (exec.containerId === record.id) exec.running = false;
    if (exit.oom) this.#emit(record, 'oom');
    this.#emit(record, 'die', { exitCode: String(exit.code) });
    if (this.#stopping.has(record.id)) this.#emit(record, 'stop');
    const restart = this.#shouldRestart(record);
    if (restart) {
      record.state.Restarting = true;
      record.state.Status = 'restarting';
      if (ranMs >= 10_000) record.restartCount = 0;
    }
    const autoRemove = !restart && record.hostConfig.AutoRemove && !this.#stopping.has(`remove:${record.id}`);
    // A record about to be removed is not written first: after a crash in between, the exit file is still there.
    if (!autoRemove) await this.#save(record);
    this.#notify(record, 'exit');
    if (restart) {
      const delay = Math.min(60_000, 100 * 2 ** Math.min(record.restartCount, 10));
      const timer = setTimeout(() => {
        this.#restartTimers.delete(record.id);
        if (this.#closed) return;
        void this.#lock
          .run(record.id, async () => {
            if (!record.state.Restarting || !this.#records.has(record.id)) return;
            record.restartCount += 1;
            await this.#start(record, true);
          })
          .catch(async () => {
            record.state.Restarting = false;
            record.state.Status = 'exited';
            await this.#save(record).catch(() => {});
          });
      }, delay);
      timer.unref();
      this.#restartTimers.set(record.id, timer);
    } else if (autoRemove) {
      await this.#removeRecord(record, { volumes: true });
    }
  }

  #shouldRestart(record: ContainerRecord): boolean {
    if (this.#stopping.has(record.id) || this.#closed) return false;
    const policy = record.hostConfig.RestartPolicy ?? { Name: '', MaximumRetryCount: 0 };
    switch (policy.Name) {
      case 'always':
        return true;
      case 'unless-stopped':
        return !record.manuallyStopped;
      case 'on-failure':
        return (
          record.state.ExitCode !== 0 &&
          (policy.MaximumRetryCount === 0 || record.restartCount < policy.MaximumRetryCount)
        );
      default:
        return false;
    }
  }

  #follow(id: string): (wake: () => void) => () => void {
    return (wake) => {
      const set = this.#followers.get(id) ?? new Set();
      set.add(wake);
      this.#followers.set(id, set);
      return () => {
        set.delete(wake);
        if (!set.size) this.#followers.delete(id);
      };
    };
  }

  #notify(record: ContainerRecord, what: 'exit' | 'removed'): void {
    for (const wake of this.#followers.get(record.id) ?? []) wake();
    const waiters = this.#waiters.get(record.id) ?? [];
    const keep: Waiter[] = [];
    const result = {
      StatusCode: record.state.ExitCode,
      Error: record.state.Error ? { Message: record.state.Error } : null,
    };
    for (const waiter of waiters) {
      const done =
        what === 'removed' ||
        waiter.condition === 'next-exit' ||
        (waiter.condition === 'not-running' && !record.state.Restarting);
      if (done && !(what === 'exit' && waiter.condition === 'removed')) waiter.resolve(result);
      else keep.push(waiter);
    }
    if (keep.length) this.#waiters.set(record.id, keep);
    else this.#waiters.delete(record.id);
  }

  // ---- stop, kill, restart, pause ----

  async stop(idOrName: string, options: { timeout?: number; signal?: string } = {}): Promise<void> {
    const record = this.#find(idOrName);
    // Inside the lock: a restart in flight finishes first, then this sees it running and stops it.
    const cancelledRestart = await this.#lock.run(record.id, async () => {
      if (!record.state.Restarting) return false;
      const timer = this.#restartTimers.get(record.id);
      if (timer) clearTimeout(timer);
      this.#restartTimers.delete(record.id);
      record.manuallyStopped = true;
      record.state.Restarting = false;
      record.state.Status = 'exited';
      await this.#save(record);
      this.#notify(record, 'exit');
      return true;
    });
    if (cancelledRestart) return;
    if (!record.state.Running) throw new EngineError('not_modified', 'container already stopped');
    record.manuallyStopped = true;
    await this.#stopAndWait(
      record,
      options.signal ?? record.config.StopSignal ?? 'SIGTERM',
      options.timeout ?? record.config.StopTimeout ?? 10,
    );
  }

  async #stopAndWait(record: ContainerRecord, signal: string, timeoutSeconds: number): Promise<void> {
    this.#stopping.add(record.id);
    try {
      const exited = this.#waitFor(record, 'next-exit');
      if (record.state.Paused) await this.#runtime.resume(record.id).catch(() => {});
      this.#emit(record, 'kill', { signal: signalName(signal) });
      await this.#runtime.kill(record.id, signal).catch(() => {});
      const graceful =
        timeoutSeconds < 0
          ? await exited.then(() => true)
          : await Promise.race([exited.then(() => true), sleep(timeoutSeconds * 1000).then(() => false)]);
      if (!graceful) {
        this.#emit(record, 'kill', { signal: '9' });
        await this.#runtime.kill(record.id, 'SIGKILL', true).catch(() => {});
        const killed = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
        if (!killed) {
          // conmon is gone too (killed by hand): nobody will write the exit code; record the kill ourselves.
          await this.#lock.run(record.id, () => this.#handleExit(record, { code: 137, oom: false }));
        }
      }
      await exited;
    } finally {
      this.#stopping.delete(record.id);
    }
  }

  /** Resolves on the next exit that is handled; a poll covers an exit-file event the watcher missed. */
  #waitFor(
    record: ContainerRecord,
    condition: Waiter['condition'],
  ): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    return new Promise((resolve) => {
      const list = this.#waiters.get(record.id) ?? [];
      const poll = setInterval(() => void this.#checkExit(record.id), 100);
      list.push({
        condition,
        resolve: (value) => {
          clearInterval(poll);
          resolve(value);
        },
      });
      this.#waiters.set(record.id, list);
    });
  }

  async kill(idOrName: string, signal = 'SIGKILL'): Promise<void> {
    const record = this.#find(idOrName);
    if (!record.state.Running) throw new EngineError('conflict', `Container ${record.id} is not running`);
    if (!isValidSignal(signal)) throw new EngineError('invalid_argument', `Invalid signal: ${signal}`);
    this.#emit(record, 'kill', { signal: signalName(signal) });
    const normalized = /^\d+$/.test(signal) ? signal : signal.toUpperCase();
    await this.#runtime.kill(
      record.id,
      normalized,
      normalized === 'SIGKILL' || normalized === 'KILL' || normalized === '9',
    );
    if (['SIGKILL', 'KILL', '9'].includes(normalized)) {
      record.manuallyStopped = true;
      await Promise.race([this.#waitFor(record, 'next-exit'), sleep(5000)]);
    }
  }

  async restart(idOrName: string, options: { timeout?: number } = {}): Promise<void> {
    const record = this.#find(idOrName);
    if (record.state.Running) {
      this.#stopping.add(record.id);
      await this.#stopAndWait(
        record,
        record.config.StopSignal ?? 'SIGTERM',
        options.timeout ?? record.config.StopTimeout ?? 10,
      );
    }
    await this.#lock.run(record.id, () => this.#start(record));
    this.#emit(record, 'restart');
  }

  async pause(idOrName: string): Promise<void> {
    const record = this.#find(idOrName);
    if (!record.state.Running) throw new EngineError('conflict', `Container ${record.id} is not running`);
    if (record.state.Paused) throw new EngineError('conflict', `Container ${record.id} is already paused`);
    await this.#runtime.pause(record.id);
    record.state.Paused = true;
    record.state.Status = 'paused';
    await this.#save(record);
    this.#emit(record, 'pause');
  }

  async unpause(idOrName: string): Promise<void> {
    const record = this.#find(idOrName);
    if (!record.state.Paused) throw new EngineError('conflict', `Container ${record.id} is not paused`);
    await this.#runtime.resume(record.id);
    record.state.Paused = false;
    record.state.Status = 'running';
    await this.#save(record);
    this.#emit(record, 'unpause');
  }

  /**
   * `docker commit`: an image of the container's image plus its changes (its upper directory), with its config
   * (Cmd, Entrypoint, Env, WorkingDir, User, ExposedPorts, Volumes, Labels, StopSignal) as the image's. A
   * running container is paused meanwhile unless `pause` is false, so the layer is one moment's state.
   */
  async commit(
    idOrName: string,
    options: { tag?: string; comment?: string; author?: string; pause?: boolean } = {},
  ): Promise<{ Id: string }> {
    const record = this.#find(idOrName);
    const pausedHere = record.state.Running && !record.state.Paused && options.pause !== false;
    if (pausedHere) await this.#runtime.pause(record.id);
    try {
      const { Hostname: _hostname, Domainname: _domainname, Image: _image, ...config } = record.config;
      const Id = await this.#images.commit({
        parent: record.imageId,
        upperDir: this.#layout(record.id).upper,
        config: { ...config, Labels: config.Labels, Env: config.Env },
        createdBy: [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])].join(' '),
        ...(options.comment ? { comment: options.comment } : {}),
        ...(options.author ? { author: options.author } : {}),
        ...(options.tag ? { tag: options.tag } : {}),
      });
      this.#emit(record, 'commit', options.comment ? { comment: options.comment } : {});
      return { Id };
    } finally {
      if (pausedHere) await this.#runtime.resume(record.id).catch(() => undefined);
    }
  }

  // ---- remove, rename, prune ----

  async remove(idOrName: string, options: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const record = this.#find(idOrName);
    if (record.state.Running || record.state.Restarting) {
      if (!options.force)
        throw new EngineError(
          'conflict',
          `You cannot remove a ${record.state.Paused ? 'paused' : 'running'} container ${record.id}. Stop the container before attempting removal or force remove`,
        );
      this.#stopping.add(`remove:${record.id}`);
      try {
        if (record.state.Running) await this.#stopAndWait(record, 'SIGKILL', 5);
        else await this.stop(record.id);
      } finally {
        this.#stopping.delete(`remove:${record.id}`);
      }
    }
    if (!this.#records.has(record.id)) return;
    await this.#lock.run(record.id, () => this.#removeRecord(record, { volumes: options.volumes ?? false }));
  }

  async #removeRecord(record: ContainerRecord, options: { volumes: boolean }): Promise<void> {
    if (!this.#records.has(record.id)) return;
    const timer = this.#restartTimers.get(record.id);
    if (timer) clearTimeout(timer);
    this.#restartTimers.delete(record.id);
    this.#releaseLogGenerations(record.id);
    const layout = this.#layout(record.id);
    // The directory goes while conmon finishes its runc delete: runc needs only its own state for that.
    const conmonPid = record.state.Running ? undefined : await this.#runtime.conmonPid(layout.dir);
    await Promise.all([
      (record.state.Running
        ? this.#runtime.delete(record.id)
        : this.#runtime.cleanUpExited(record.id, conmonPid)
      ).catch(() => {}),
      unmountRootfs(layout).then(() => rm(layout.dir, { recursive: true, force: true })),
      rm(join(this.#runtime.exitDir, record.id), { force: true }),
    ]);
    this.#stopHealth(record.id);
    this.#records.delete(record.id);
    for (const [id, exec] of this.#execs) if (exec.containerId === record.id) this.#execs.delete(id);
    for (const waiter of this.#stdinWaiters.get(record.id) ?? [])
      waiter.reject(new EngineError('not_found', `container ${record.id} was removed`));
    this.#stdinWaiters.delete(record.id);
    if (options.volumes)
      for (const mount of record.mounts)
        if (mount.Type === 'volume' && mount.Name && mount.Anonymous)
          await this.#volumes.remove(mount.Name).catch(() => {});
    this.#emit(record, 'destroy');
    this.#notify(record, 'removed');
  }

  async rename(idOrName: string, newName: string): Promise<void> {
    const record = this.#find(idOrName);
    if (!nameRe.test(newName))
      throw new EngineError('invalid_argument', `Invalid container name (${newName})`);
    const name = newName.replace(/^\//, '');
    if (name === record.name)
      throw new EngineError('conflict', 'Renaming a container with the same name as its current name');
    const owner = [...this.#records.values()].find((r) => r.name === name);
    if (owner)
      throw new EngineError(
        'conflict',
        `Conflict. The container name "/${name}" is already in use by container "${owner.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    const oldName = record.name;
    record.name = name;
    await this.#save(record);
    this.#emit(record, 'rename', { oldName: `/${oldName}` });
  }

  /**
   * `docker update`: a new restart policy (used at the next exit) and new limits, applied at once to a running
   * container (`runc update`) and kept for its next start. Checked as dockerd checks them; nothing is saved
   * when the running container refused the new limits.
   */
  async update(idOrName: string, body: unknown): Promise<{ Warnings: string[] }> {
    const parsed = updateContainerSchema.safeParse(body ?? {});
    if (!parsed.success)
      throw new EngineError('invalid_argument', parsed.error.issues.map((i) => i.message).join('; '));
    const raw = (body ?? {}) as Record<string, unknown>;
    for (const key of notUpdatable)
      if (raw[key] !== undefined && raw[key] !== 0 && raw[key] !== '' && raw[key] !== null)
        throw new EngineError('invalid_argument', `${key} cannot be updated by Berth`);
    const update = parsed.data;
    const record = this.#find(idOrName);
    return this.#lock.run(record.id, async () => {
      const cannot = (why: string) =>
        new EngineError('invalid_argument', `Cannot update container ${record.id}: ${why}`);
      const next = { ...record.hostConfig };
      if (update.Memory) {
        if (update.Memory < 6 * 1024 * 1024)
          throw new EngineError('invalid_argument', 'Minimum memory limit allowed is 6MB');
        next.Memory = update.Memory;
      }
      if (update.MemorySwap) next.MemorySwap = update.MemorySwap;
      if (next.Memory && next.MemorySwap && next.MemorySwap > 0 && next.Memory > next.MemorySwap)
        throw cannot(
          update.MemorySwap
            ? 'Minimum memoryswap limit should be larger than memory limit, see usage'
            : 'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time',
        );
      if (update.NanoCpus) {
        const cpus = availableParallelism();
        if (update.NanoCpus < 1e7 || update.NanoCpus > cpus * 1e9)
          throw new EngineError(
            'invalid_argument',
            `Range of CPUs is from 0.01 to ${cpus}.00, as there are only ${cpus} CPUs available`,
          );
        next.NanoCpus = update.NanoCpus;
      }
      if (update.CpuShares) next.CpuShares = update.CpuShares;
      if (update.PidsLimit) next.PidsLimit = update.PidsLimit;
      if (update.RestartPolicy?.Name) {
        if (record.hostConfig.AutoRemove)
          throw cannot('Restart policy cannot be updated because AutoRemove is enabled for the container');
        next.RestartPolicy = update.RestartPolicy;
      }
      if (record.state.Running) {
        try {
          await this.#runtime.update(
            record.id,
            limitResources({
              memory: next.Memory,
              memorySwap: next.MemorySwap,
              nanoCpus: next.NanoCpus,
              cpuShares: next.CpuShares,
              pidsLimit: next.PidsLimit ?? undefined,
            }),
          );
        } catch (error) {
          throw cannot((error as Error).message);
        }
      }
      record.hostConfig = next;
      await this.#save(record);
      this.#emit(record, 'update');
      return { Warnings: [] };
    });
  }

  async prune(
    filters: Record<string, string[]> = {},
  ): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const record of [...this.#records.values()]) {
      if (record.state.Running || record.state.Restarting) continue;
      if (filters.label?.length && !filters.label.every((l) => labelMatches(record.config.Labels, l)))
        continue;
      if (filters.until?.length) {
        const until = parseUntil(filters.until[0] ?? '');
        if (Date.parse(record.created) >= until) continue;
      }
      space += await (await import('../volumes/store')).directorySize(this.#layout(record.id).upper);
      await this.#lock.run(record.id, () => this.#removeRecord(record, { volumes: false }));
      deleted.push(record.id);
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: space };
  }

  // ---- wait ----

  async wait(
    idOrName: string,
    condition: 'not-running' | 'next-exit' | 'removed' = 'not-running',
    signal?: AbortSignal,
  ): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    const record = this.#find(idOrName);
    if (condition === 'not-running' && !record.state.Running && !record.state.Restarting)
      return { StatusCode: record.state.ExitCode, Error: null };
    const waiting = this.#waitFor(record, condition);
    if (!signal) return waiting;
    return Promise.race([
      waiting,
      new Promise<never>((_, reject) => {
        if (signal.aborted) reject(new EngineError('failed', 'wait aborted'));
        signal.addEventListener('abort', () => reject(new EngineError('failed', 'wait aborted')), {
          once: true,
        });
      }),
    ]);
  }

  // ---- list, inspect ----

  list(options: ListOptions = {}): ContainerSummary[] {
    const filters = options.filters ?? {};
    let records = [...this.#records.values()].sort((a, b) => b.created.localeCompare(a.created));
    const all = options.all || filters.status?.length || filters.exited?.length;
    records = records.filter((record) => {
      if (!all && !record.state.Running) return false;
      if (filters.id?.length && !filters.id.some((id) => record.id.startsWith(id))) return false;
      if (
        filters.name?.length &&
        !filters.name.some((n) => new RegExp(n.replace(/^\//, '')).test(record.name))
      )
        return false;
      if (filters.label?.length && !filters.label.every((l) => labelMatches(record.config.Labels, l)))
        return false;
      if (filters.status?.length && !filters.status.includes(record.state.Status)) return false;
      if (
        filters.exited?.length &&
        (record.state.Status !== 'exited' || !filters.exited.includes(String(record.state.ExitCode)))
      )
        return false;
      if (
        filters.ancestor?.length &&
        !filters.ancestor.some(
          (a) =>
            a === record.config.Image ||
            record.imageId.replace('sha256:', '').startsWith(a.replace('sha256:', '')),
        )
      )
        return false;
      if (
        filters.volume?.length &&
        !filters.volume.some((v) => record.mounts.some((m) => m.Name === v || m.Destination === v))
      )
        return false;
      if (filters.network?.length && !filters.network.some((n) => n in record.networks)) return false;
      if (filters.health?.length) {
        const health = probeCommand(record.config.Healthcheck)
          ? (record.state.Health?.Status ?? 'starting')
          : 'none';
        if (!filters.health.includes(health)) return false;
      }
      return true;
    });
    if (options.limit && options.limit > 0) records = records.slice(0, options.limit);
    return records.map((record) => this.#summary(record));
  }

  #status(record: ContainerRecord): string {
    const state = record.state;
    if (state.Restarting) return `Restarting (${state.ExitCode}) ${since(state.FinishedAt)} ago`;
    if (state.Running)
      return `Up ${since(state.StartedAt)}${state.Paused ? ' (Paused)' : healthText(state.Health)}`;
    if (state.FinishedAt !== zeroTime) return `Exited (${state.ExitCode}) ${since(state.FinishedAt)} ago`;
    return 'Created';
  }

  #publishedPorts(
    record: ContainerRecord,
  ): Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> {
    const ports: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> = [];
    for (const binding of record.ports)
      ports.push({
        IP: binding.hostIp || '0.0.0.0',
        PrivatePort: binding.containerPort,
        PublicPort: binding.hostPort,
        Type: binding.protocol,
      });
    for (const key of Object.keys(record.config.ExposedPorts ?? {})) {
      const { port, protocol } = parsePortKey(key);
      if (!ports.some((p) => p.PrivatePort === port && p.Type === protocol))
        ports.push({ PrivatePort: port, Type: protocol });
    }
    return ports;
  }

  #summary(record: ContainerRecord): ContainerSummary {
    return {
      Id: record.id,
      Names: [`/${record.name}`],
      Image: record.config.Image,
      ImageID: record.imageId,
      Command: commandLine([...(record.config.Entrypoint ?? []), ...(record.config.Cmd ?? [])]),
      Created: Math.floor(Date.parse(record.created) / 1000),
      Ports: this.#publishedPorts(record),
      Labels: record.config.Labels,
      State: record.state.Status,
      Status: this.#status(record),
      HostConfig: { NetworkMode: record.hostConfig.NetworkMode ?? 'bridge' },
      NetworkSettings: { Networks: record.networks },
      Mounts: record.mounts.map((m) => this.#mountView(m)),
    };
  }

  #mountView(mount: MountPoint): MountView {
    return {
      Type: mount.Type,
      ...(mount.Name ? { Name: mount.Name } : {}),
      Source: mount.Source,
      Destination: mount.Destination,
      ...(mount.Driver ? { Driver: mount.Driver } : {}),
      Mode: mount.Mode,
      RW: mount.RW,
      Propagation: mount.Propagation,
    };
  }

  inspect(idOrName: string): ContainerInspect {
    const record = this.#find(idOrName);
    const ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
    for (const key of Object.keys(record.config.ExposedPorts ?? {})) ports[key] = null;
    for (const binding of record.ports) {
      const key = `${binding.containerPort}/${binding.protocol}`;
      ports[key] = [
        ...(ports[key] ?? []),
        { HostIp: binding.hostIp || '0.0.0.0', HostPort: String(binding.hostPort) },
      ];
    }
    const primary = Object.values(record.networks)[0];
    return {
      Id: record.id,
      Created: record.created,
      Path: [...(record.config.Entrypoint ?? []), ...(record.config.Cmd ?? [])][0] ?? '',
      Args: [...(record.config.Entrypoint ?? []), ...(record.config.Cmd ?? [])].slice(1),
      State: { ...record.state },
      Image: record.imageId,
      ResolvConfPath: record.resolvConfPath,
      HostnamePath: record.hostnamePath,
      HostsPath: record.hostsPath,
      LogPath: record.logPath,
      Name: `/${record.name}`,
      RestartCount: record.restartCount,
      Driver: 'overlay2',
      Platform: 'linux',
      MountLabel: '',
      ProcessLabel: '',
      AppArmorProfile: '',
      ExecIDs: [...this.#execs.values()].filter((e) => e.containerId === record.id).map((e) => e.id),
      HostConfig: {
        ...record.hostConfig,
        Binds: record.hostConfig.Binds ?? null,
        NetworkMode: record.hostConfig.NetworkMode ?? 'bridge',
        RestartPolicy: record.hostConfig.RestartPolicy ?? { Name: '', MaximumRetryCount: 0 },
        AutoRemove: record.hostConfig.AutoRemove ?? false,
        Privileged: record.hostConfig.Privileged ?? false,
        ReadonlyRootfs: record.hostConfig.ReadonlyRootfs ?? false,
        Memory: record.hostConfig.Memory ?? 0,
        NanoCpus: record.hostConfig.NanoCpus ?? 0,
        PidsLimit: record.hostConfig.PidsLimit ?? null,
        PortBindings: record.hostConfig.PortBindings ?? {},
        LogConfig: { Type: 'k8s-file', Config: record.hostConfig.LogConfig?.Config ?? {} },
      },
      GraphDriver: {
        Name: 'overlay2',
        Data: {
          LowerDir: [this.#layout(record.id).init, ...this.#snapshotDirsOrEmpty(record.imageId)].join(':'),
          UpperDir: this.#layout(record.id).upper,
          WorkDir: this.#layout(record.id).work,
          MergedDir: this.#layout(record.id).merged,
        },
      },
      Mounts: record.mounts.map((m) => this.#mountView(m)),
      Config: { ...record.config },
      NetworkSettings: {
        Bridge: '',
        SandboxID: '',
        SandboxKey: '',
        Ports: ports,
        Gateway: primary?.Gateway ?? '',
        IPAddress: primary?.IPAddress ?? '',
        IPPrefixLen: primary?.IPPrefixLen ?? 0,
        MacAddress: primary?.MacAddress ?? '',
        Networks: record.networks,
      },
    };
  }

  #snapshotDirsOrEmpty(imageId: string): string[] {
    try {
      return this.#images.snapshotDirs(imageId);
    } catch {
      return [];
    }
  }

  // ---- logs, attach, top, changes ----

  logs(idOrName: string, options: LogReadOptions, signal?: AbortSignal): AsyncGenerator<LogEntry> {
    const record = this.#find(idOrName);
    return readLogs(
      record.logPath,
      options,
      () => !record.state.Running || !this.#records.has(record.id),
      signal,
      undefined,
      this.#follow(record.id),
    );
  }

  /**
   * Output from now on until the container stops (`docker run`/`start -a` attach before start, so the
   * container's whole output is seen). `logs` replays what was written before.
   */
  attachOutput(
    idOrName: string,
    options: { stdout: boolean; stderr: boolean; logs: boolean },
    signal?: AbortSignal,
  ): AsyncGenerator<LogEntry> {
    const record = this.#find(idOrName);
    const attachedAt = record.state.Running ? Date.now() / 1000 : undefined;
    const startedBefore = record.state.StartedAt;
    // The position is taken now, not when the reader first runs: `docker run` starts the container right
    // after attaching, and output written in between must not be skipped.
    const pinned = openIfExists(record.logPath);
    const from = options.logs ? {} : { startOffset: pinned === undefined ? 0 : fstatSync(pinned).size };
    return readLogs(
      record.logPath,
      { stdout: options.stdout, stderr: options.stderr, follow: true, ...from },
      () => {
        if (!this.#records.has(record.id)) return true;
        if (record.state.Running || record.state.Restarting) return false;
        // Attached before start: done once a run that began after the attach has ended.
        return attachedAt !== undefined || record.state.StartedAt !== startedBefore;
      },
      signal,
      pinned,
      this.#follow(record.id),
    );
  }

  /**
   * The container's stdin for an attach session (`docker run -i`, `docker attach`, `start -ai`), through
   * conmon. Null when the container was not created with OpenStdin. Made before start, it connects when the
   * container starts.
   */
  attachStdin(idOrName: string): Writable | null {
    const record = this.#find(idOrName);
    if (!record.config.OpenStdin) return null;
    const bundle = this.#layout(record.id).dir;
    const running = record.state.Running || record.state.Paused;
    const ready = running
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const waiters = this.#stdinWaiters.get(record.id) ?? [];
          waiters.push({ resolve, reject });
          this.#stdinWaiters.set(record.id, waiters);
        });
    const socket = ready.then(() => connectAttachSocket(bundle));
    socket.catch(() => {});
    return attachStdinWriter(socket);
  }

  /** One resource-usage sample (`docker stats`); zeros for a container that does not run, as dockerd gives. */
  async stats(idOrName: string): Promise<ContainerStats> {
    const record = this.#find(idOrName);
    if (!record.state.Running) return emptyStats(record.id, record.name);
    const pid = record.state.Pid;
    try {
      const [runc, host, netDev] = await Promise.all([
        this.#runtime.stats(record.id),
        hostCpu(),
        record.hostConfig.NetworkMode === 'host'
          ? undefined
          : readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => undefined),
      ]);
      return statsFromRunc(runc, {
        id: record.id,
        name: record.name,
        read: new Date(),
        ...host,
        ...(netDev === undefined ? {} : { networks: parseNetDev(netDev) }),
      });
    } catch (error) {
      // Stopped between the check and the sample.
      if (!record.state.Running) return emptyStats(record.id, record.name);
      throw EngineError.is(error) ? error : new EngineError('failed', (error as Error).message);
    }
  }

  async top(idOrName: string, psArgs = '-ef'): Promise<{ Titles: string[]; Processes: string[][] }> {
    const record = this.#find(idOrName);
    if (!record.state.Running) throw new EngineError('conflict', `Container ${record.id} is not running`);
    const out = await this.#runtime.ps(record.id, psArgs.split(/\s+/).filter(Boolean));
    const lines = out.split('\n').filter(Boolean);
    const header = lines.shift() ?? '';
    const titles = header.trim().split(/\s+/);
    const processes = lines.map((line) => {
      const fields = line.trim().split(/\s+/);
      const head = fields.slice(0, titles.length - 1);
      return [...head, fields.slice(titles.length - 1).join(' ')];
    });
    return { Titles: titles, Processes: processes };
  }

  async changes(idOrName: string): Promise<Change[]> {
    const record = this.#find(idOrName);
    return listChanges(this.#layout(record.id), this.#snapshotDirsOrEmpty(record.imageId));
  }

  /**
   * Starts the process, allowing for runc 1.1's race with conmon's exit command when `runc start` itself is
   * used: a process that exits at once can be deleted (by `runc delete`) while `runc start` is still
   * removing its exec.fifo, and start then fails although the process ran. Its exit code on disk tells the
   * two apart.
   */
  async #startProcess(id: string, persistDir: string, initPid: number): Promise<void> {
    try {
      await this.#runtime.start(id, initPid);
    } catch (error) {
      if (!/exec\.fifo/.test((error as Error).message)) throw error;
      for (let i = 0; i < 50; i++) {
        if (await this.#runtime.exitCode(id, persistDir)) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw error;
    }
  }

  /** TTY size through conmon's control FIFO (`1 <rows> <cols>`). */
  async resize(idOrName: string, height: number, width: number): Promise<void> {
    const record = this.#find(idOrName);
    if (!record.state.Running || !record.config.Tty) return;
    await writeTerminalSize(join(this.#layout(record.id).dir, 'ctl'), height, width);
  }

  /**
   * Signals a running exec's process (a console closed in the browser hangs its shell up). Docker has no
   * such call; its sessions end with their process.
   */
  execKill(execId: string, signal: NodeJS.Signals = 'SIGHUP'): void {
    const exec = this.#execs.get(execId);
    if (!exec) throw new EngineError('not_found', `No such exec instance: ${execId}`);
    if (!exec.running || exec.pid <= 0) return;
    try {
      process.kill(exec.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  /** The TTY size of an exec session (`docker exec -t` sends it on start and on every window change). */
  async execResize(execId: string, height: number, width: number): Promise<void> {
    const exec = this.#execs.get(execId);
    if (!exec) throw new EngineError('not_found', `No such exec instance: ${execId}`);
    if (!exec.running || !exec.config.Tty) return;
    await writeTerminalSize(join(this.#execDir(exec.containerId, execId), 'ctl'), height, width);
  }

  // ---- network attachments ----

  /** `docker network connect`: recorded for the next start, and plumbed at once when running. */
  async connectNetwork(
    idOrName: string,
    network: string,
    options: { aliases?: string[]; ipv4Address?: string } = {},
  ): Promise<void> {
    const record = this.#find(idOrName);
    if (!this.#networking) throw new EngineError('unavailable', 'networking is not configured');
    const networking = this.#networking;
    const { name } = await networking.resolve(network);
    if (name === 'host' || name === 'none' || ['host', 'none'].includes(record.hostConfig.NetworkMode ?? ''))
      throw new EngineError(
        'forbidden',
        'container cannot be disconnected from host network or connected to host network',
      );
    await this.#lock.run(record.id, async () => {
      if (name in record.networks)
        throw new EngineError(
          'forbidden',
          `endpoint with name ${record.name} already exists in network ${name}`,
        );
      const endpoint = this.#endpoint(options.aliases ?? null, options.ipv4Address);
      if (record.state.Running) {
        const result = await networking.connect(record.id, record.name, {
          network: name,
          aliases: options.aliases ?? [],
          ...(options.ipv4Address ? { ipv4Address: options.ipv4Address } : {}),
        });
        Object.assign(endpoint, {
          NetworkID: result.networkId,
          EndpointID: result.endpointId,
          Gateway: result.gateway,
          IPAddress: result.ipAddress,
          IPPrefixLen: result.prefixLength,
          MacAddress: result.macAddress,
        });
      }
      record.networks[name] = endpoint;
      await this.#save(record);
    });
  }

  async disconnectNetwork(idOrName: string, network: string): Promise<void> {
    const record = this.#find(idOrName);
    if (!this.#networking) throw new EngineError('unavailable', 'networking is not configured');
    const networking = this.#networking;
    const { name } = await networking.resolve(network);
    await this.#lock.run(record.id, async () => {
      if (!(name in record.networks))
        throw new EngineError('forbidden', `container ${record.id} is not connected to network ${name}`);
      if (record.state.Running) await networking.disconnect(record.id, name);
      delete record.networks[name];
      await this.#save(record);
    });
  }

  // ---- docker cp ----

  /** The container's root as it sees it: its mount namespace while running, its overlay mounted otherwise. */
  async #copyRoot(record: ContainerRecord): Promise<{ root: string; release: () => Promise<void> }> {
    if (record.state.Running && record.state.Pid > 0)
      return { root: `/proc/${record.state.Pid}/root`, release: async () => {} };
    const layout = this.#layout(record.id);
    await mountRootfs(layout, this.#images.snapshotDirs(record.imageId));
    return {
      root: layout.merged,
      release: () =>
        this.#lock.run(record.id, async () => {
          if (!record.state.Running) await unmountRootfs(layout).catch(() => {});
        }),
    };
  }

  async statPath(idOrName: string, path: string): Promise<PathStat> {
    const record = this.#find(idOrName);
    const { root, release } = await this.#copyRoot(record);
    try {
      return (await statInRoot(root, path)).stat;
    } finally {
      await release();
    }
  }

  async archive(idOrName: string, path: string): Promise<{ stat: PathStat; stream: Readable }> {
    const record = this.#find(idOrName);
    const { root, release } = await this.#copyRoot(record);
    try {
      const { hostPath, stat } = await statInRoot(root, path);
      const stream = tarPath(hostPath, { root: stat.name === '/' });
      stream.once('close', () => void release());
      return { stat, stream };
    } catch (error) {
      await release();
      throw error;
    }
  }

  /** `docker export`: the container's filesystem (a running one's as it is now) as one tar stream. */
  async export(idOrName: string): Promise<Readable> {
    const record = this.#find(idOrName);
    const { root, release } = await this.#copyRoot(record);
    try {
      const stream = await tarRoot(root);
      stream.once('close', () => void release());
      this.#emit(record, 'export');
      return stream;
    } catch (error) {
      await release();
      throw error;
    }
  }

  /** Unpacks a tar into a directory of the container; entries that would leave it are skipped. */
  async extractArchive(idOrName: string, path: string, source: Readable): Promise<void> {
    const record = this.#find(idOrName);
    if (record.hostConfig.ReadonlyRootfs)
      throw new EngineError('forbidden', 'container rootfs is marked read-only');
    const { root, release } = await this.#copyRoot(record);
    try {
      const dir = await resolveInRoot(root, path, true);
      const info = await lstat(dir).catch(() => undefined);
      if (!info) throw new EngineError('not_found', `Could not find the file ${path} in container`);
      if (!info.isDirectory())
        throw new EngineError('invalid_argument', `extraction point is not a directory: ${path}`);
      await unpackLayer(source, mediaTypes.ociLayer, dir);
    } finally {
      await release();
    }
  }

  // ---- exec ----

  execCreate(idOrName: string, body: unknown, options: { healthProbe?: boolean } = {}): { Id: string } {
    const record = this.#find(idOrName);
    const parsed = execConfigSchema.safeParse(body);
    if (!parsed.success)
      throw new EngineError('invalid_argument', parsed.error.issues.map((i) => i.message).join('; '));
    if (!record.state.Running) throw new EngineError('conflict', `Container ${record.id} is not running`);
    if (record.state.Paused)
      throw new EngineError(
        'conflict',
        `Container ${record.id} is paused, unpause the container before exec`,
      );
    const id = randomBytes(32).toString('hex');
    this.#execs.set(id, {
      id,
      containerId: record.id,
      config: parsed.data,
      running: false,
      exitCode: null,
      pid: 0,
    });
    if (options.healthProbe) this.#probes.add(id);
    this.#emit(record, `exec_create: ${parsed.data.Cmd.join(' ')}`, { execID: id });
    return { Id: id };
  }

  execInspect(execId: string): Record<string, unknown> {
    const exec = this.#execs.get(execId);
    if (!exec) throw new EngineError('not_found', `No such exec instance: ${execId}`);
    return {
      ID: exec.id,
      ContainerID: exec.containerId,
      Running: exec.running,
      ExitCode: exec.exitCode,
      Pid: exec.pid,
      OpenStdin: exec.config.AttachStdin ?? false,
      OpenStdout: exec.config.AttachStdout ?? true,
      OpenStderr: exec.config.AttachStderr ?? true,
      CanRemove: false,
      DetachKeys: exec.config.DetachKeys ?? '',
      ProcessConfig: {
        tty: exec.config.Tty ?? false,
        entrypoint: exec.config.Cmd[0],
        arguments: exec.config.Cmd.slice(1),
        privileged: exec.config.Privileged ?? false,
        user: exec.config.User ?? '',
      },
    };
  }

  async execStart(execId: string): Promise<ExecSession> {
    const exec = this.#execs.get(execId);
    if (!exec) throw new EngineError('not_found', `No such exec instance: ${execId}`);
    if (exec.running || exec.exitCode !== null)
      throw new EngineError('conflict', `Exec ${execId} has already been started`);
    const record = this.#find(exec.containerId);
    if (!record.state.Running) throw new EngineError('conflict', `Container ${record.id} is not running`);
    // The running container's files are in its own mount namespace.
    const user = await resolveUserInRootfs(
      exec.config.User || record.config.User,
      `/proc/${record.state.Pid}/root`,
    ).catch((error) => {
      throw new EngineError('failed', (error as Error).message);
    });
    const env = parseEnv(record.config.Env);
    for (const [key, value] of parseEnv(exec.config.Env ?? [])) env.set(key, value);
    if (!env.has('HOSTNAME')) env.set('HOSTNAME', record.config.Hostname);
    if (!env.has('HOME')) env.set('HOME', user.home);
    const caps = effectiveCapabilities(
      record.hostConfig.CapAdd ?? [],
      record.hostConfig.CapDrop ?? [],
      exec.config.Privileged || (record.hostConfig.Privileged ?? false),
    );
    const tty = exec.config.Tty ?? false;
    if (tty && !env.has('TERM')) env.set('TERM', 'xterm');
    const processSpec = {
      terminal: tty,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args: exec.config.Cmd,
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: exec.config.WorkingDir || record.config.WorkingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: false,
    };
    const file = join(this.#layout(record.id).dir, `exec-${execId}.json`);
    await writeFile(file, JSON.stringify(processSpec));
    const stdin = exec.config.AttachStdin ?? false;
    // A TTY needs conmon to hold the terminal; plain pipes are cheaper through runc alone.
    const child = tty
      ? await this.#runtime.execAttached({
          containerId: record.id,
          execId,
          dir: this.#execDir(record.id, execId),
          processFile: file,
          tty,
          stdin,
        })
      : this.#runtime.exec(record.id, file, { stdin });
    exec.running = true;
    exec.pid = child.pid ?? 0;
    this.#emit(record, `exec_start: ${exec.config.Cmd.join(' ')}`, { execID: execId });
    const exit = child.exit.then(async (code) => {
      exec.running = false;
      exec.exitCode = code;
      await rm(file, { force: true });
      if (tty) await rm(this.#execDir(record.id, execId), { recursive: true, force: true });
      if (this.#records.has(record.id))
        this.#emit(record, 'exec_die', { execID: execId, exitCode: String(code) });
      return code;
    });
    return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exit };
  }

  #execDir(containerId: string, execId: string): string {
    return join(this.#layout(containerId).dir, `exec-${execId.slice(0, 12)}`);
  }

  /** Containers using an image or volume; for `system df`. */
  async diskUsage(): Promise<Array<ContainerSummary & { SizeRw: number }>> {
    const { directorySize } = await import('../volumes/store');
    const out: Array<ContainerSummary & { SizeRw: number }> = [];
    for (const record of this.#records.values())
      out.push({ ...this.#summary(record), SizeRw: await directorySize(this.#layout(record.id).upper) });
    return out;
  }

  /** Stops every running container (used by tests and `docker system prune`-like flows; not on agent exit). */
  runningIds(): string[] {
    return [...this.#records.values()].filter((r) => r.state.Running).map((r) => r.id);
  }

  /** Containers with `always` or `unless-stopped` that are down after a host restart: start them. */
  async startPolicyContainers(): Promise<void> {
    for (const record of this.#records.values()) {
      const policy = record.hostConfig.RestartPolicy?.Name;
      if (record.state.Running) continue;
      if (policy === 'always' || (policy === 'unless-stopped' && !record.manuallyStopped))
        await this.#lock.run(record.id, () => this.#start(record, true)).catch(() => {});
    }
  }
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }>;
  Labels: Record<string, string>;
  State: string;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, EndpointSettings> };
  Mounts: MountView[];
}

export interface MountView {
  Type: string;
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export type ContainerInspect = Record<string, unknown> & {
  Id: string;
  Name: string;
  LogPath: string;
  RestartCount: number;
  Mounts: MountView[];
  State: ContainerRecord['state'];
  Config: ContainerConfig;
};

/** As dockerd lists it: arguments with a space in single quotes. */
function commandLine(argv: string[]): string {
  const [path = '', ...args] = argv;
  if (!args.length) return path;
  return `${path} ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

const signalNames = [
  'HUP',
  'INT',
  'QUIT',
  'ILL',
  'TRAP',
  'ABRT',
  'BUS',
  'FPE',
  'KILL',
  'USR1',
  'SEGV',
  'USR2',
  'PIPE',
  'ALRM',
  'TERM',
  'STKFLT',
  'CHLD',
  'CONT',
  'STOP',
  'TSTP',
  'TTIN',
  'TTOU',
  'URG',
  'XCPU',
  'XFSZ',
  'VTALRM',
  'PROF',
  'WINCH',
  'IO',
  'PWR',
  'SYS',
];

function isValidSignal(signal: string): boolean {
  if (/^\d+$/.test(signal)) return Number(signal) > 0 && Number(signal) < 65;
  const name = signal.toUpperCase().replace(/^SIG/, '');
  return signalNames.includes(name) || /^RTMIN(\+\d+)?$|^RTMAX(-\d+)?$/.test(name);
}

/** Docker reports the signal number in kill events. */
function signalName(signal: string): string {
  if (/^\d+$/.test(signal)) return signal;
  const index = signalNames.indexOf(signal.toUpperCase().replace(/^SIG/, ''));
  return index === -1 ? signal : String(index + 1);
}

function parseUntil(value: string): number {
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const duration = /^(\d+)(s|m|h)$/.exec(value);
  if (duration)
    return (
      Date.now() - Number(duration[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[duration[2] as 's' | 'm' | 'h']
    );
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw new EngineError('invalid_argument', `invalid until filter: ${value}`);
  return parsed;
}

/** conmon's control FIFO takes `1 <rows> <cols>`; a FIFO without its reader (process gone) is not an error. */
async function writeTerminalSize(ctlPath: string, height: number, width: number): Promise<void> {
  const handle = await open(ctlPath, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
  if (!handle) return;
  try {
    await handle.write(`1 ${height} ${width}\n`);
  } finally {
    await handle.close();
  }
}

/** Whether anything (a whiteout included) is at the path. */
function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
