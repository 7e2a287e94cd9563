/**
 * `docker build` on the engine, the way Docker's classic builder works: every step starts from the previous
 * step's image; RUN executes in a real container (same runtime and defaults as `docker run`) whose overlay
 * upper directory becomes the layer; COPY and ADD write into an overlay of the parent and keep its upper
 * directory the same way; metadata instructions change only the config. Each step's result is cached under
 * a key of its parent's config digest and the instruction (plus the content checksum of copied files), so a
 * rebuild reuses it. Built layers go into the image store as content blobs plus ready snapshots.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import { z } from 'zod';
import { resolveInRoot } from '../containers/archive';
import { isMounted, rootfsLayout, unmountRootfs } from '../containers/rootfs';
import type { ContainerStore } from '../containers/store';
import { EngineError } from '../errors';
import { exists, writeFileAtomic } from '../images/content';
import { type Descriptor, descriptorSchema, manifestSchema, mediaTypes } from '../images/oci';
import { familiarString, parseReference } from '../images/reference';
import type { RegistryCredentials } from '../images/registry';
import { chainIds, type ImageStore, parsePlatform } from '../images/store';
import { runTool } from '../images/unpack';
import {
  copySources,
  downloadSource,
  expandSources,
  pinAncestorTimes,
  resolveIdentity,
  type Source,
  SourceHasher,
} from './copy';
import { type Instruction, parseDockerfile, parseInstructionText } from './dockerfile';
import { IgnoreMatcher, parseIgnoreFile } from './ignore';
import { commitLayer, isEmptyDir } from './layer';
import { type Env, expandWord, expandWords, splitRaw } from './shell';

/** One line of the classic builder's JSON stream (POST /build), so the Docker API forwards it unchanged. */
export interface BuildProgress {
  stream?: string;
  status?: string;
  id?: string;
  progressDetail?: { current: number; total: number };
  aux?: { ID: string };
}

/**
 * What a build did, step by step, for callers that show it structured (the control plane's build page)
 * rather than as the classic builder's text.
 */
export type BuildEvent =
  | { type: 'step'; step: number; total: number; instruction: string }
  | { type: 'cache'; hit: boolean }
  | { type: 'output'; text: string }
  | { type: 'run-failed'; exitCode: number; command: string };

/** One entry of `docker system df`'s build cache, in the Docker API's BuildCache shape. */
export interface BuildCacheEntry {
  ID: string;
  Parents: string[] | null;
  Type: 'regular';
  Description: string;
  InUse: boolean;
  /** The step's layer is also part of an image: pruning the cache would not free it. */
  Shared: boolean;
  Size: number;
  CreatedAt: string;
  LastUsedAt: string | null;
  UsageCount: number;
}

export interface BuildOptions {
  /** The context directory. */
  context: string;
  /** Dockerfile path inside the context (default `Dockerfile`), or its text. */
  dockerfile?: string;
  dockerfileText?: string;
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  /** Pull FROM images even when present. */
  pull?: boolean;
  platform?: string;
  labels?: Record<string, string>;
  /** Network of RUN containers: `default` (the bridge, as Docker's classic builder), `none`, `host`. */
  network?: string;
  credentials?: Record<string, RegistryCredentials>;
  onProgress?: (progress: BuildProgress) => void;
  onEvent?: (event: BuildEvent) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  id: string;
  tags: string[];
}

const containerConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: z.record(z.string(), z.object({})).nullish(),
  Env: z.array(z.string()).nullish(),
  Entrypoint: z.array(z.string()).nullish(),
  Cmd: z.array(z.string()).nullish(),
  Volumes: z.record(z.string(), z.object({})).nullish(),
  WorkingDir: z.string().optional(),
  Labels: z.record(z.string(), z.string()).nullish(),
  StopSignal: z.string().optional(),
  Healthcheck: z.looseObject({ Test: z.array(z.string()) }).optional(),
  OnBuild: z.array(z.string()).nullish(),
  Shell: z.array(z.string()).optional(),
});
type ContainerConfig = z.infer<typeof containerConfigSchema>;

const configSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  config: containerConfigSchema,
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(z.string()) }),
  history: z.array(z.looseObject({})),
});
type ConfigJson = z.infer<typeof configSchema>;

const stateSchema = z.object({ config: configSchema, layers: z.array(descriptorSchema) });
/** An image as a build sees it between steps: a config and its layers, not necessarily a stored image. */
type State = z.infer<typeof stateSchema>;

interface Stage {
  index: number;
  name?: string;
  from: Instruction;
  commands: Instruction[];
}

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const sha256 = (data: string | Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const shortId = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);
const dockerLayerTypes: Record<string, string> = {
  'application/vnd.docker.image.rootfs.diff.tar.gzip': mediaTypes.ociLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar': mediaTypes.ociLayer,
};

function configBytes(state: State): Buffer {
  return Buffer.from(JSON.stringify(state.config));
}

export function stateId(state: State): string {
  return sha256(configBytes(state));
}

function envMap(list: string[] | null | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq === -1) out.set(item, '');
    else out.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return out;
}

/** Go's time.ParseDuration, to nanoseconds (HEALTHCHECK options). */
function parseDuration(text: string, flag: string): number {
  if (text === '0') return 0;
  const unit: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (unit[m[2] as string] ?? 0);
    consumed = re.lastIndex;
  }
  if (consumed !== text.length || text === '')
    throw new EngineError('invalid_argument', `invalid duration for --${flag}: ${text}`);
  return Math.round(total);
}

/** The builder: one per engine; builds run independently of each other. */
export class Builder {
  readonly #images: ImageStore;
  readonly #containers: ContainerStore;
  readonly #dataRoot: string;
  readonly #cacheDir: string;
  readonly #tmpDir: string;
  readonly #hasher = new SourceHasher();
  #swept: Promise<void> | undefined;

  constructor(deps: { images: ImageStore; containers: ContainerStore; dataRoot: string }) {
    this.#images = deps.images;
    this.#containers = deps.containers;
    this.#dataRoot = deps.dataRoot;
    this.#cacheDir = join(deps.dataRoot, 'build', 'cache');
    this.#tmpDir = join(deps.dataRoot, 'build', 'tmp');
  }

  async build(options: BuildOptions): Promise<BuildResult> {
    this.#swept ??= this.#sweep();
    await this.#swept;
    const run = new BuildRun(this, options);
    return run.execute();
  }

  /** A fresh directory for a context the Docker API unpacks (removed by the caller). */
  async contextDir(): Promise<string> {
    this.#swept ??= this.#sweep();
    await this.#swept;
    const dir = join(this.#dataRoot, 'build', 'contexts', randomBytes(8).toString('hex'));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /**
   * Scratch left by a process that died mid-build: overlays still mounted there are unmounted before the
   * directories go (removing through a mounted overlay would write whiteouts, not free anything).
   */
  async #sweep(): Promise<void> {
    await mkdir(this.#cacheDir, { recursive: true });
    for (const dir of [this.#tmpDir, join(this.#dataRoot, 'build', 'contexts')]) {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const merged = join(dir, name, 'merged');
        if (await isMounted(merged)) await runTool('umount', ['-l', merged]).catch(() => undefined);
        await rm(join(dir, name), { recursive: true, force: true });
      }
    }
    await mkdir(this.#tmpDir, { recursive: true });
  }

  /** `docker builder prune`: forgets every cache entry and deletes the layers only the cache kept. */
  async prune(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    const names = await readdir(this.#cacheDir).catch(() => [] as string[]);
    const kept = await this.#imageChains();
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const path = join(this.#cacheDir, name);
      const parsed = stateSchema.safeParse(JSON.parse(await readFile(path, 'utf8').catch(() => 'null')));
      await rm(path, { force: true });
      await rm(join(this.#cacheDir, `${name.slice(0, -5)}.uses`), { force: true });
      deleted.push(`sha256:${name.slice(0, -5)}`);
      if (!parsed.success) continue;
      const chains = chainIds(parsed.data.config.rootfs.diff_ids);
      for (const [i, chain] of chains.entries()) {
        if (kept.has(chain)) continue;
        const dir = this.#images.snapshotDir(chain);
        if (!(await exists(dir))) continue;
        reclaimed += await dirSize(dir);
        await rm(dir, { recursive: true, force: true });
        const layer = parsed.data.layers[i];
        if (layer) {
          if (!(await this.#blobReferenced(layer.digest))) await this.#images.content.delete(layer.digest);
        }
        kept.add(chain); // deleted once is enough
      }
    }
    return { CachesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  /** Chain IDs of every stored image's layers: a cache entry on one of them frees nothing when pruned. */
  async #imageChains(): Promise<Set<string>> {
    const kept = new Set<string>();
    for (const image of this.#images.list()) {
      const inspect = await this.#images.inspect(image.Id).catch(() => undefined);
      for (const chain of chainIds(inspect?.RootFS.Layers ?? [])) kept.add(chain);
    }
    return kept;
  }

  /**
   * The cache as `docker system df` lists it: one entry per cached step, sized by the layer that step added
   * (config-only steps weigh nothing), shared when an image holds that layer too (the CLI then counts it as
   * not reclaimable, as with BuildKit's records shared with images).
   */
  async cacheEntries(): Promise<BuildCacheEntry[]> {
    const kept = await this.#imageChains();
    const out: BuildCacheEntry[] = [];
    for (const name of await readdir(this.#cacheDir).catch(() => [] as string[])) {
      if (!name.endsWith('.json')) continue;
      const path = join(this.#cacheDir, name);
      const usesPath = join(this.#cacheDir, `${name.slice(0, -5)}.uses`);
      const [text, info, uses] = await Promise.all([
        readFile(path, 'utf8').catch(() => undefined),
        stat(path).catch(() => undefined),
        stat(usesPath).then(
          async (u) => ({ at: u.mtime, count: Number(await readFile(usesPath, 'utf8')) || 0 }),
          () => undefined,
        ),
      ]);
      if (text === undefined || !info) continue; // pruned meanwhile
      let parsed: ReturnType<typeof stateSchema.safeParse>;
      try {
        parsed = stateSchema.safeParse(JSON.parse(text));
      } catch {
        continue;
      }
      if (!parsed.success) continue;
      const history = parsed.data.config.history.at(-1) as { created_by?: unknown; empty_layer?: unknown };
      const top = chainIds(parsed.data.config.rootfs.diff_ids).at(-1);
      const addedLayer = history?.empty_layer !== true && top !== undefined;
      const shared = addedLayer && kept.has(top);
      const dir = addedLayer ? this.#images.snapshotDir(top) : undefined;
      const size = dir && (await exists(dir)) ? await dirSize(dir) : 0;
      out.push({
        ID: name.slice(0, -5),
        Parents: null,
        Type: 'regular',
        Description: typeof history?.created_by === 'string' ? history.created_by : '',
        InUse: false,
        Shared: shared,
        Size: size,
        CreatedAt: info.mtime.toISOString(),
        LastUsedAt: (uses?.at ?? info.mtime).toISOString(),
        // Made once, then each cache hit.
        UsageCount: 1 + (uses?.count ?? 0),
      });
    }
    return out.sort((a, b) => a.CreatedAt.localeCompare(b.CreatedAt));
  }

  async #blobReferenced(digest: string): Promise<boolean> {
    const index = await this.#images.content.readIndex();
    for (const m of index.manifests) {
      const bytes = await this.#images.content.readBytes(m.digest).catch(() => undefined);
      if (bytes?.includes(digest)) return true;
    }
    return false;
  }

  // ---- used by BuildRun ----

  get images(): ImageStore {
    return this.#images;
  }
  get containers(): ContainerStore {
    return this.#containers;
  }
  get dataRoot(): string {
    return this.#dataRoot;
  }
  get tmpDir(): string {
    return this.#tmpDir;
  }
  get hasher(): SourceHasher {
    return this.#hasher;
  }

  async cacheGet(key: string): Promise<State | undefined> {
    const text = await readFile(join(this.#cacheDir, `${key}.json`), 'utf8').catch(() => undefined);
    if (!text) return undefined;
    const raw: unknown = JSON.parse(text);
    const parsed = stateSchema.safeParse(raw);
    if (!parsed.success) return undefined;
    // A hit is only as good as its layers: an image removal may have taken them since.
    const chains = chainIds(parsed.data.config.rootfs.diff_ids);
    for (const [i, layer] of parsed.data.layers.entries()) {
      if (!(await this.#images.content.has(layer.digest))) return undefined;
      if (!(await exists(this.#images.snapshotDir(chains[i] as string)))) return undefined;
    }
    // Last use and count for `docker system df -v`, beside the entry (atime alone is lost on noatime mounts).
    const uses = join(this.#cacheDir, `${key}.uses`);
    const count = Number(await readFile(uses, 'utf8').catch(() => '0')) || 0;
    await writeFile(uses, String(count + 1)).catch(() => undefined);
    // The stored bytes, not zod's copy: its key order differs, and the config digest is of the bytes.
    return raw as State;
  }

  async cachePut(key: string, state: State): Promise<void> {
    await writeFileAtomic(join(this.#cacheDir, `${key}.json`), JSON.stringify(state));
  }
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await lstat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

class BuildRun {
  readonly #b: Builder;
  readonly #o: BuildOptions;
  readonly #progress: (p: BuildProgress) => void;
  readonly #created = new Set<string>(); // image records this build added (intermediates are removed)
  readonly #keep = new Set<string>();
  readonly #buildArgs: Map<string, string>;
  readonly #usedArgs = new Set<string>();
  readonly #manifests = new Map<string, Descriptor[]>();
  #escape = '\\';
  #ignore: IgnoreMatcher | undefined;
  #contextRoot = '';
  #step = 0;
  #total = 0;

  constructor(builder: Builder, options: BuildOptions) {
    this.#b = builder;
    this.#o = options;
    this.#progress = options.onProgress ?? (() => {});
    this.#buildArgs = new Map(Object.entries(options.buildArgs ?? {}));
  }

  #say(text: string): void {
    this.#progress({ stream: text });
  }

  #event(event: BuildEvent): void {
    this.#o.onEvent?.(event);
  }

  #checkAbort(): void {
    if (this.#o.signal?.aborted) throw new EngineError('failed', 'build cancelled');
  }

  async execute(): Promise<BuildResult> {
    const tags = (this.#o.tags ?? []).map((tag) => {
      const ref = parseReference(tag);
      if (ref.digest) throw new EngineError('invalid_argument', `invalid tag ${tag}: a digest is not a tag`);
      return familiarString({ ...ref, tag: ref.tag ?? 'latest' });
    });
    this.#contextRoot = resolve(this.#o.context);
    const contextInfo = await lstat(this.#contextRoot).catch(() => undefined);
    if (!contextInfo?.isDirectory())
      throw new EngineError('invalid_argument', `build context ${this.#o.context} is not a directory`);
    let text = this.#o.dockerfileText;
    if (text === undefined) {
      const name = this.#o.dockerfile ?? 'Dockerfile';
      const path = join(this.#contextRoot, posix.normalize(`/${name}`));
      text = await readFile(path, 'utf8').catch(() => {
        throw new EngineError('not_found', `Cannot locate specified Dockerfile: ${name}`);
      });
    }
    const ignoreText = await readFile(join(this.#contextRoot, '.dockerignore'), 'utf8').catch(() => '');
    this.#ignore = ignoreText ? new IgnoreMatcher(parseIgnoreFile(ignoreText)) : undefined;
    const file = parseDockerfile(text);
    this.#escape = file.escape;
    const { metaArgs, stages } = this.#splitStages(file.instructions);
    let last = stages.length - 1;
    if (this.#o.target) {
      const wanted = this.#o.target.toLowerCase();
      last = stages.findIndex((s) => s.name === wanted);
      if (last === -1)
        throw new EngineError(
          'invalid_argument',
          `failed to reach build target ${this.#o.target} in Dockerfile`,
        );
    }
    const chosen = stages.slice(0, last + 1);
    this.#checkStageRefs(chosen);
    this.#total = metaArgs.length + chosen.reduce((n, s) => n + 1 + s.commands.length, 0);

    const meta = new Map<string, string | undefined>();
    try {
      for (const instruction of metaArgs) {
        this.#stepHeader(instruction);
        for (const [name, value] of this.#argPairs(instruction, this.#envOf(meta))) {
          this.#usedArgs.add(name);
          meta.set(name, this.#buildArgs.get(name) ?? value);
        }
      }
      const results: State[] = [];
      for (const stage of chosen) {
        this.#checkAbort();
        results.push(await this.#runStage(stage, stages, results, meta));
      }
      let final = results[results.length - 1] as State;
      if (this.#o.labels && Object.keys(this.#o.labels).length > 0) {
        final = structuredClone(final);
        final.config.config.Labels = { ...(final.config.config.Labels ?? {}), ...this.#o.labels };
      }
      const unused = [...this.#buildArgs.keys()].filter((k) => !this.#usedArgs.has(k));
      if (unused.length)
        this.#say(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
      // Earlier stages stay as untagged images, as the classic builder leaves them: their layers then
      // survive an engine restart (the store drops snapshots no image owns) and keep the stages cached.
      for (const stage of results.slice(0, -1)) this.#keep.add(await this.#materialize(stage));
      const id = await this.#materialize(final);
      this.#keep.add(id);
      for (const tag of tags) await this.#b.images.tag(id, tag);
      this.#progress({ aux: { ID: id } });
      this.#say(`Successfully built ${shortId(id)}\n`);
      for (const tag of tags) this.#say(`Successfully tagged ${tag}\n`);
      return { id, tags };
    } finally {
      for (const id of this.#created) {
        if (this.#keep.has(id)) continue;
        await this.#b.images.remove(id).catch(() => undefined);
      }
    }
  }

  #splitStages(instructions: Instruction[]): { metaArgs: Instruction[]; stages: Stage[] } {
    const metaArgs: Instruction[] = [];
    const stages: Stage[] = [];
    for (const instruction of instructions) {
      if (instruction.keyword === 'FROM') {
        const words = splitRaw(instruction.args, this.#escape);
        let name: string | undefined;
        if (words.length === 3 && words[1]?.toLowerCase() === 'as') name = words[2]?.toLowerCase();
        else if (words.length !== 1)
          throw new EngineError(
            'invalid_argument',
            `line ${instruction.line}: FROM requires either one or three arguments`,
          );
        if (name && !/^[a-z][a-z0-9-_.]*$/.test(name))
          throw new EngineError(
            'invalid_argument',
            `line ${instruction.line}: invalid name for build stage: "${name}"`,
          );
        if (name && stages.some((s) => s.name === name))
          throw new EngineError('invalid_argument', `line ${instruction.line}: duplicate name ${name}`);
        stages.push({ index: stages.length, ...(name ? { name } : {}), from: instruction, commands: [] });
        continue;
      }
      const current = stages[stages.length - 1];
      if (!current) {
        if (instruction.keyword !== 'ARG')
          throw new EngineError(
            'invalid_argument',
            `no build stage in current context: ${instruction.keyword} before FROM`,
          );
        metaArgs.push(instruction);
      } else current.commands.push(instruction);
    }
    if (stages.length === 0)
      throw new EngineError('invalid_argument', 'the Dockerfile has no FROM instruction');
    return { metaArgs, stages };
  }

  /** A stage may only use stages before it: naming itself or a later one is a cycle. */
  #checkStageRefs(stages: Stage[]): void {
    for (const stage of stages) {
      for (const c of stage.commands) {
        const from = c.flags.get('from');
        if ((c.keyword !== 'COPY' && c.keyword !== 'ADD') || typeof from !== 'string') continue;
        const target = stages.find((s) => s.name === from.toLowerCase() || String(s.index) === from);
        if (target && target.index >= stage.index)
          throw new EngineError('invalid_argument', `circular dependency detected on stage: ${from}`);
      }
      const image = splitRaw(stage.from.args, this.#escape)[0]?.toLowerCase();
      const target = stages.find((s) => s.name === image);
      if (target && target.index >= stage.index)
        throw new EngineError('invalid_argument', `circular dependency detected on stage: ${image}`);
    }
  }

  #stepHeader(instruction: Instruction): void {
    this.#step++;
    this.#event({ type: 'step', step: this.#step, total: this.#total, instruction: instruction.original });
    this.#say(`Step ${this.#step}/${this.#total} : ${instruction.original}\n`);
  }

  #envOf(values: Map<string, string | undefined>, config?: ContainerConfig): Env {
    const env = new Map<string, string>();
    for (const [k, v] of values) if (v !== undefined) env.set(k, v);
    for (const [k, v] of envMap(config?.Env)) env.set(k, v);
    return env;
  }

  #argPairs(instruction: Instruction, env: Env): [string, string | undefined][] {
    const out: [string, string | undefined][] = [];
    for (const word of splitRaw(instruction.args, this.#escape)) {
      const eq = word.indexOf('=');
      const name = eq === -1 ? word : word.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new EngineError('invalid_argument', `line ${instruction.line}: invalid ARG name: ${name}`);
      out.push([name, eq === -1 ? undefined : expandWord(word.slice(eq + 1), env, this.#escape)]);
    }
    if (out.length === 0)
      throw new EngineError(
        'invalid_argument',
        `line ${instruction.line}: ARG requires at least one argument`,
      );
    return out;
  }

  // ---- stages ----

  async #runStage(
    stage: Stage,
    all: Stage[],
    done: State[],
    meta: Map<string, string | undefined>,
  ): Promise<State> {
    this.#stepHeader(stage.from);
    const metaEnv = this.#envOf(meta);
    const imageName = expandWord(splitRaw(stage.from.args, this.#escape)[0] ?? '', metaEnv, this.#escape);
    const platformFlag = stage.from.flags.get('platform');
    const platform =
      typeof platformFlag === 'string' ? expandWord(platformFlag, metaEnv, this.#escape) : this.#o.platform;
    for (const flag of stage.from.flags.keys())
      if (flag !== 'platform') throw new EngineError('invalid_argument', `unknown flag: --${flag} on FROM`);
    const previous = all.find((s) => s.name === imageName.toLowerCase() && s.index < stage.index);
    let state: State;
    if (previous) state = structuredClone(done[previous.index] as State);
    else state = await this.#baseState(imageName, platform);
    this.#say(` ---> ${shortId(stateId(state))}\n`);
    const args = new Map<string, string | undefined>();
    let cmdSet = false;
    // ONBUILD triggers of the base run first, then leave the config (Docker does not inherit them).
    const triggers = state.config.config.OnBuild ?? [];
    if (triggers.length) {
      state.config.config.OnBuild = null;
      this.#say(`# Executing ${triggers.length} build trigger${triggers.length === 1 ? '' : 's'}\n`);
      for (const trigger of triggers) {
        const instruction = parseInstructionText(trigger, this.#escape, stage.from.line);
        if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(instruction.keyword))
          throw new EngineError(
            'invalid_argument',
            `${instruction.keyword} isn't allowed as an ONBUILD trigger`,
          );
        state = await this.#runInstruction(instruction, state, {
          args,
          meta,
          stage,
          done,
          all,
          cmdSet: () => cmdSet,
        });
      }
    }
    for (const instruction of stage.commands) {
      this.#checkAbort();
      this.#stepHeader(instruction);
      if (instruction.keyword === 'CMD') cmdSet = true;
      state = await this.#runInstruction(instruction, state, {
        args,
        meta,
        stage,
        done,
        all,
        cmdSet: () => cmdSet,
      });
    }
    return state;
  }

  async #baseState(imageName: string, platform: string | undefined): Promise<State> {
    if (imageName === 'scratch') {
      const p = parsePlatform(platform);
      return {
        config: {
          architecture: p.architecture,
          os: p.os,
          ...(p.variant ? { variant: p.variant } : {}),
          config: { Env: [`PATH=${defaultPath}`] },
          rootfs: { type: 'layers', diff_ids: [] },
          history: [],
        },
        layers: [],
      };
    }
    const id = await this.#ensureImage(imageName, platform, this.#o.pull ?? false);
    const raw = JSON.parse((await this.#b.images.content.readBytes(id)).toString('utf8'));
    const base = configSchema.safeParse({ history: [], ...raw, config: raw.config ?? {} });
    if (!base.success)
      throw new EngineError('failed', `image ${imageName} has a config the builder cannot read`);
    const config: ConfigJson = {
      architecture: base.data.architecture,
      os: base.data.os,
      ...(base.data.variant ? { variant: base.data.variant } : {}),
      ...(base.data.created ? { created: base.data.created } : {}),
      config: structuredClone(base.data.config),
      rootfs: structuredClone(base.data.rootfs),
      history: structuredClone(base.data.history),
    };
    if (!envMap(config.config.Env).has('PATH'))
      config.config.Env = [...(config.config.Env ?? []), `PATH=${defaultPath}`];
    return { config, layers: await this.#layersOf(id) };
  }

  async #ensureImage(name: string, platform: string | undefined, pull: boolean): Promise<string> {
    const local = await this.#b.images.inspect(name).catch(() => undefined);
    const wanted = platform ? parsePlatform(platform) : undefined;
    const matches =
      local && (!wanted || (local.Os === wanted.os && local.Architecture === wanted.architecture));
    if (local && matches && !pull) return local.Id;
    const ref = parseReference(name);
    const pulled = await this.#b.images.pull(name, {
      ...(platform ? { platform } : {}),
      ...(this.#o.credentials?.[ref.domain] ? { credentials: this.#o.credentials[ref.domain] } : {}),
      onProgress: (p) => this.#progress({ ...p }),
      ...(this.#o.signal ? { signal: this.#o.signal } : {}),
    });
    return pulled.Id;
  }

  /** The manifest layer descriptors of a stored image (found through the store's OCI index). */
  async #layersOf(imageId: string): Promise<Descriptor[]> {
    const cached = this.#manifests.get(imageId);
    if (cached) return cached;
    const index = await this.#b.images.content.readIndex();
    for (const entry of index.manifests) {
      const bytes = await this.#b.images.content.readBytes(entry.digest).catch(() => undefined);
      if (!bytes) continue;
      const parsed = manifestSchema.safeParse(JSON.parse(bytes.toString('utf8')));
      if (!parsed.success || parsed.data.config.digest !== imageId) continue;
      const layers = parsed.data.layers.map((l) => ({
        mediaType: dockerLayerTypes[l.mediaType] ?? l.mediaType,
        digest: l.digest,
        size: l.size,
      }));
      this.#manifests.set(imageId, layers);
      return layers;
    }
    throw new EngineError('not_found', `the manifest of image ${imageId} is not in the store`);
  }

  // ---- instructions ----

  async #runInstruction(
    ins: Instruction,
    state: State,
    ctx: {
      args: Map<string, string | undefined>;
      meta: Map<string, string | undefined>;
      stage: Stage;
      done: State[];
      all: Stage[];
      cmdSet: () => boolean;
    },
  ): Promise<State> {
    const config = state.config.config;
    const env = this.#envOf(ctx.args, config);
    const expand = (word: string) => expandWord(word, env, this.#escape);
    const allowFlags = (...names: string[]) => {
      for (const flag of ins.flags.keys())
        if (!names.includes(flag))
          throw new EngineError(
            'invalid_argument',
            `line ${ins.line}: unknown flag: --${flag} on ${ins.keyword}`,
          );
    };
    const shellForm = (text: string) => [...(config.Shell ?? ['/bin/sh', '-c']), text];
    switch (ins.keyword) {
      case 'RUN': {
        allowFlags('network');
        let argv: string[];
        if (ins.json) argv = ins.json;
        else if (ins.heredocs.length === 1 && /^<<-?\s*["']?[A-Za-z_]\w*["']?$/.test(ins.args))
          argv = shellForm((ins.heredocs[0] as { content: string }).content);
        else if (ins.heredocs.length)
          argv = shellForm(`${ins.args}\n${ins.heredocs.map((h) => `${h.content}${h.name}`).join('\n')}`);
        else argv = shellForm(ins.args);
        if (argv.length === 0)
          throw new EngineError('invalid_argument', `line ${ins.line}: RUN requires at least one argument`);
        const configEnv = envMap(config.Env);
        const argEnv = [...ctx.args]
          .filter(([k, v]) => v !== undefined && !configEnv.has(k))
          .map(([k, v]) => `${k}=${v}`)
          .sort();
        const createdBy = `${argEnv.length ? `|${argEnv.length} ${argEnv.join(' ')} ` : ''}${argv.join(' ')}`;
        return this.#cached(state, `RUN\0${createdBy}`, async () => {
          const layer = await this.#runContainer(state, argv, argEnv, ins.flags.get('network'));
          return this.#child(state, createdBy, layer);
        });
      }
      case 'COPY':
      case 'ADD':
        return this.#copy(ins, state, env, ctx);
      case 'WORKDIR': {
        allowFlags();
        const value = expand(ins.args);
        if (!value)
          throw new EngineError(
            'invalid_argument',
            `line ${ins.line}: WORKDIR requires exactly one argument`,
          );
        const dir = posix.normalize(
          posix.isAbsolute(value) ? value : posix.join(config.WorkingDir || '/', value),
        );
        return this.#cached(state, `WORKDIR\0${dir}`, async () => {
          const next = this.#withConfig(state, (c) => {
            c.WorkingDir = dir;
          });
          // The directory is made now (root-owned, as the classic builder does); when it exists already the
          // step changes no file and adds no layer.
          const layer = await this.#overlayStep(state, async (rootfs) => {
            const restore = await pinAncestorTimes(rootfs, dir);
            await mkdir(await resolveInRoot(rootfs, dir, true), { recursive: true, mode: 0o755 });
            await restore();
          });
          return this.#child(next, `/bin/sh -c #(nop) WORKDIR ${dir}`, layer);
        });
      }
      case 'ENV':
      case 'LABEL': {
        allowFlags();
        const pairs = this.#nameValues(ins, expand);
        return this.#meta(
          state,
          ins,
          `${ins.keyword} ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`,
          (c) => {
            if (ins.keyword === 'LABEL') {
              c.Labels = { ...(c.Labels ?? {}) };
              for (const [k, v] of pairs) c.Labels[k] = v;
              return;
            }
            const list = [...(c.Env ?? [])];
            for (const [k, v] of pairs) {
              const at = list.findIndex((e) => e === k || e.startsWith(`${k}=`));
              if (at === -1) list.push(`${k}=${v}`);
              else list[at] = `${k}=${v}`;
            }
            c.Env = list;
          },
        );
      }
      case 'ARG': {
        allowFlags();
        for (const [name, fallback] of this.#argPairs(ins, env)) {
          this.#usedArgs.add(name);
          let value = fallback;
          if (value === undefined && ctx.meta.has(name)) value = ctx.meta.get(name);
          if (this.#buildArgs.has(name)) value = this.#buildArgs.get(name);
          ctx.args.set(name, value);
        }
        this.#say(` ---> ${shortId(stateId(state))}\n`);
        return state; // an ARG changes no config: it reaches the cache key of each RUN through its env
      }
      case 'USER': {
        allowFlags();
        const user = expand(ins.args);
        if (!user)
          throw new EngineError('invalid_argument', `line ${ins.line}: USER requires exactly one argument`);
        return this.#meta(state, ins, `USER ${user}`, (c) => {
          c.User = user;
        });
      }
      case 'EXPOSE': {
        allowFlags();
        const ports: string[] = [];
        for (const word of expandWords(ins.args, env, this.#escape)) {
          const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
          if (!m)
            throw new EngineError('invalid_argument', `line ${ins.line}: invalid containerPort: ${word}`);
          const from = Number(m[1]);
          const to = m[2] ? Number(m[2]) : from;
          if (to < from || to > 65535)
            throw new EngineError('invalid_argument', `line ${ins.line}: invalid port range ${word}`);
          for (let p = from; p <= to; p++) ports.push(`${p}/${(m[3] ?? 'tcp').toLowerCase()}`);
        }
        if (!ports.length)
          throw new EngineError(
            'invalid_argument',
            `line ${ins.line}: EXPOSE requires at least one argument`,
          );
        return this.#meta(state, ins, `EXPOSE ${ports.join(' ')}`, (c) => {
          c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
          for (const p of ports) c.ExposedPorts[p] = {};
        });
      }
      case 'VOLUME': {
        allowFlags();
        const paths = ins.json ? ins.json.map(expand) : expandWords(ins.args, env, this.#escape);
        if (!paths.length || paths.some((p) => p.trim() === ''))
          throw new EngineError(
            'invalid_argument',
            `line ${ins.line}: VOLUME specified can not be an empty string`,
          );
        return this.#meta(state, ins, `VOLUME [${paths.join(' ')}]`, (c) => {
          c.Volumes = { ...(c.Volumes ?? {}) };
          for (const p of paths) c.Volumes[p] = {};
        });
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        allowFlags();
        const value = ins.json ?? shellForm(ins.args);
        const shown = ins.json ? JSON.stringify(ins.json) : JSON.stringify(value);
        return this.#meta(state, ins, `${ins.keyword} ${shown}`, (c) => {
          if (ins.keyword === 'CMD') c.Cmd = value;
          else {
            c.Entrypoint = value;
            // As the classic builder: an ENTRYPOINT drops a CMD inherited from the base image.
            if (!ctx.cmdSet()) c.Cmd = null;
          }
        });
      }
      case 'SHELL': {
        allowFlags();
        if (!ins.json || ins.json.length === 0)
          throw new EngineError(
            'invalid_argument',
            `line ${ins.line}: SHELL requires the arguments to be in JSON form`,
          );
        const shell = ins.json;
        return this.#meta(state, ins, `SHELL ${JSON.stringify(shell)}`, (c) => {
          c.Shell = shell;
        });
      }
      case 'STOPSIGNAL': {
        allowFlags();
        const signal = expand(ins.args);
        if (!/^(?:SIG)?[A-Z0-9+-]+$|^\d+$/i.test(signal))
          throw new EngineError('invalid_argument', `line ${ins.line}: Invalid signal: ${signal}`);
        return this.#meta(state, ins, `STOPSIGNAL ${signal}`, (c) => {
          c.StopSignal = signal;
        });
      }
      case 'HEALTHCHECK': {
        allowFlags('interval', 'timeout', 'start-period', 'start-interval', 'retries');
        const words = splitRaw(ins.args, this.#escape);
        const kind = words[0]?.toUpperCase();
        let health: NonNullable<ContainerConfig['Healthcheck']>;
        if (kind === 'NONE') {
          if (words.length > 1 || ins.flags.size)
            throw new EngineError(
              'invalid_argument',
              `line ${ins.line}: HEALTHCHECK NONE takes no arguments`,
            );
          health = { Test: ['NONE'] };
        } else if (kind === 'CMD') {
          const rest = ins.args.replace(/^\S+\s*/, '');
          if (!rest)
            throw new EngineError(
              'invalid_argument',
              `line ${ins.line}: Missing command after HEALTHCHECK CMD`,
            );
          let json: string[] | undefined;
          try {
            const v: unknown = JSON.parse(rest);
            if (Array.isArray(v) && v.every((x) => typeof x === 'string')) json = v;
          } catch {
            json = undefined;
          }
          health = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', rest] };
          const durations: [string, string][] = [
            ['interval', 'Interval'],
            ['timeout', 'Timeout'],
            ['start-period', 'StartPeriod'],
            ['start-interval', 'StartInterval'],
          ];
          for (const [flag, field] of durations) {
            const v = ins.flags.get(flag);
            if (typeof v === 'string') health[field] = parseDuration(v, flag);
          }
          const retries = ins.flags.get('retries');
          if (typeof retries === 'string') {
            if (!/^\d+$/.test(retries))
              throw new EngineError('invalid_argument', `line ${ins.line}: invalid --retries ${retries}`);
            health.Retries = Number(retries);
          }
        } else
          throw new EngineError(
            'invalid_argument',
            `line ${ins.line}: Unknown type "${words[0] ?? ''}" in HEALTHCHECK`,
          );
        return this.#meta(state, ins, `HEALTHCHECK ${JSON.stringify(health)}`, (c) => {
          c.Healthcheck = health;
        });
      }
      case 'ONBUILD': {
        allowFlags();
        const trigger = parseInstructionText(ins.args, this.#escape, ins.line);
        if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(trigger.keyword))
          throw new EngineError(
            'invalid_argument',
            `line ${ins.line}: ${trigger.keyword} isn't allowed as an ONBUILD trigger`,
          );
        return this.#meta(state, ins, `ONBUILD ${ins.args}`, (c) => {
          c.OnBuild = [...(c.OnBuild ?? []), ins.args];
        });
      }
      case 'MAINTAINER': {
        allowFlags();
        const author = expand(ins.args);
        return this.#cached(state, `MAINTAINER\0${author}`, async () => {
          const next = this.#child(state, `/bin/sh -c #(nop)  MAINTAINER ${author}`, undefined);
          next.config.author = author;
          return next;
        });
      }
      case 'FROM':
        throw new EngineError('internal', 'FROM handled by the stage loop');
    }
  }

  #nameValues(ins: Instruction, expand: (w: string) => string): [string, string][] {
    const words = splitRaw(ins.args, this.#escape);
    if (words.length === 0)
      throw new EngineError(
        'invalid_argument',
        `line ${ins.line}: ${ins.keyword} requires at least one argument`,
      );
    if (!(words[0] as string).includes('=')) {
      // The legacy form `ENV name value…`: one pair, the rest of the line is the value.
      const name = words[0] as string;
      const rest = ins.args.slice(ins.args.indexOf(name) + name.length).trim();
      if (!rest && ins.keyword === 'ENV')
        throw new EngineError('invalid_argument', `line ${ins.line}: ENV names can not be blank`);
      return [[expand(name), expand(rest)]];
    }
    return words.map((word) => {
      const eq = word.indexOf('=');
      if (eq <= 0)
        throw new EngineError(
          'invalid_argument',
          `line ${ins.line}: Syntax error - can't find = in "${word}". Must be of the form: name=value`,
        );
      return [expand(word.slice(0, eq)), expand(word.slice(eq + 1))];
    });
  }

  #withConfig(state: State, change: (c: ContainerConfig) => void): State {
    const next = structuredClone(state);
    change(next.config.config);
    return next;
  }

  /** A config-only step: Docker's `#(nop)` history entry, cached like any other step. */
  #meta(state: State, ins: Instruction, shown: string, change: (c: ContainerConfig) => void): Promise<State> {
    return this.#cached(state, `${ins.keyword}\0${shown}`, async () =>
      this.#child(this.#withConfig(state, change), `/bin/sh -c #(nop)  ${shown}`, undefined),
    );
  }

  /** The state after a step: history entry, and the layer appended unless the step changed no file. */
  #child(
    state: State,
    createdBy: string,
    layer: { descriptor: Descriptor; diffId: string } | undefined,
  ): State {
    const next = structuredClone(state);
    const created = new Date().toISOString();
    next.config.created = created;
    next.config.history.push({
      created,
      created_by: createdBy,
      ...(layer ? {} : { empty_layer: true }),
    });
    if (layer) {
      next.config.rootfs.diff_ids.push(layer.diffId);
      next.layers.push(layer.descriptor);
    }
    return next;
  }

  async #cached(state: State, what: string, make: () => Promise<State>): Promise<State> {
    const key = createHash('sha256')
      .update(`${stateId(state)}\0${what}`)
      .digest('hex');
    if (!this.#o.noCache) {
      const hit = await this.#b.cacheGet(key);
      if (hit) {
        this.#event({ type: 'cache', hit: true });
        this.#say(' ---> Using cache\n');
        this.#say(` ---> ${shortId(stateId(hit))}\n`);
        return hit;
      }
    }
    this.#event({ type: 'cache', hit: false });
    const next = await make();
    await this.#b.cachePut(key, next);
    this.#say(` ---> ${shortId(stateId(next))}\n`);
    return next;
  }

  // ---- layers ----

  #snapshotDirs(state: State): string[] {
    return chainIds(state.config.rootfs.diff_ids)
      .map((c) => this.#b.images.snapshotDir(c))
      .reverse();
  }

  /** Moves a finished upper directory into the store as the snapshot of `state` plus this layer. */
  async #adopt(state: State, upper: string): Promise<{ descriptor: Descriptor; diffId: string } | undefined> {
    if (await isEmptyDir(upper)) return undefined;
    const layer = await commitLayer(upper, this.#b.images.content);
    const chain = chainIds([...state.config.rootfs.diff_ids, layer.diffId]).at(-1) as string;
    const target = this.#b.images.snapshotDir(chain);
    if (await exists(target)) await rm(upper, { recursive: true, force: true });
    else await rename(upper, target);
    return layer;
  }

  async #scratchDir(): Promise<string> {
    const dir = join(this.#b.tmpDir, randomBytes(8).toString('hex'));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** Mounts an overlay of `state` with a fresh upper directory, runs `work` in it, and adopts the upper. */
  async #overlayStep(
    state: State,
    work: (rootfs: string) => Promise<void>,
  ): Promise<{ descriptor: Descriptor; diffId: string } | undefined> {
    const dir = await this.#scratchDir();
    try {
      const upper = join(dir, 'upper');
      const merged = join(dir, 'merged');
      const empty = join(dir, 'empty');
      for (const d of [upper, join(dir, 'work'), merged, empty]) await mkdir(d, { mode: 0o755 });
      const lower = [...this.#snapshotDirs(state), empty].join(':');
      await runTool('mount', [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${lower},upperdir=${upper},workdir=${join(dir, 'work')}`,
        merged,
      ]);
      try {
        await work(merged);
      } finally {
        await runTool('umount', [merged]);
      }
      return await this.#adopt(state, upper);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** A read-only view of another stage or image for COPY --from. */
  async #withView<T>(state: State, use: (rootfs: string) => Promise<T>): Promise<T> {
    const dir = await this.#scratchDir();
    try {
      const merged = join(dir, 'merged');
      const empty = join(dir, 'empty');
      await mkdir(merged);
      await mkdir(empty);
      await runTool('mount', [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `ro,lowerdir=${[...this.#snapshotDirs(state), empty].join(':')}`,
        merged,
      ]);
      try {
        return await use(merged);
      } finally {
        await runTool('umount', [merged]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Stores `state` as an image (records only: its blobs and snapshots are in place). Returns its ID. */
  async #materialize(state: State): Promise<string> {
    const bytes = configBytes(state);
    const config: Descriptor = { mediaType: mediaTypes.ociConfig, digest: sha256(bytes), size: bytes.length };
    const content = this.#b.images.content;
    await content.writeBytes(config, bytes);
    const manifestBytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config, layers: state.layers }),
    );
    const existed = await this.#b.images.inspect(config.digest).then(
      () => true,
      () => false,
    );
    await this.#b.images.importImage({
      manifest: {
        mediaType: mediaTypes.ociManifest,
        digest: sha256(manifestBytes),
        size: manifestBytes.length,
      },
      manifestBytes,
      source: { open: async (d) => content.read(d.digest) },
    });
    if (!existed) this.#created.add(config.digest);
    return config.digest;
  }

  async #runContainer(
    state: State,
    argv: string[],
    argEnv: string[],
    networkFlag: string | true | undefined,
  ): Promise<{ descriptor: Descriptor; diffId: string } | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#runOnce(state, argv, argEnv, networkFlag);
      } catch (error) {
        // runc 1.1 can fail `start` with a missing exec.fifo when the command exits at once; the container's
        // result is then unknown, so the step runs again in a fresh container.
        if (attempt > 0 || !/exec\.fifo/.test((error as Error).message)) throw error;
        this.#say("runc start raced the command's exit; running the step again\n");
      }
    }
  }

  async #runOnce(
    state: State,
    argv: string[],
    argEnv: string[],
    networkFlag: string | true | undefined,
  ): Promise<{ descriptor: Descriptor; diffId: string } | undefined> {
    const imageId = await this.#materialize(state);
    const config = state.config.config;
    const network = typeof networkFlag === 'string' ? networkFlag : (this.#o.network ?? 'default');
    const containers = this.#b.containers;
    const { Id } = await containers.create({
      Image: imageId,
      Cmd: argv,
      Entrypoint: [''],
      Env: argEnv,
      User: config.User ?? '',
      WorkingDir: config.WorkingDir ?? '',
      Labels: {},
      HostConfig: { NetworkMode: network },
    });
    const short = Id.slice(0, 12);
    this.#say(` ---> Running in ${short}\n`);
    const abort = () => void containers.kill(Id).catch(() => undefined);
    this.#o.signal?.addEventListener('abort', abort, { once: true });
    try {
      const reader = (async () => {
        for await (const entry of containers.attachOutput(Id, { stdout: true, stderr: true, logs: true })) {
          const text = entry.data.toString();
          this.#event({ type: 'output', text });
          this.#say(text);
        }
      })();
      await containers.start(Id);
      const { StatusCode } = await containers.wait(Id);
      await reader.catch(() => undefined);
      this.#checkAbort();
      if (StatusCode !== 0) {
        this.#event({ type: 'run-failed', exitCode: StatusCode, command: argv.join(' ') });
        throw new EngineError(
          'failed',
          `The command '${argv.join(' ')}' returned a non-zero code: ${StatusCode}`,
        );
      }
      const layout = rootfsLayout(join(this.#b.dataRoot, 'containers', Id));
      await unmountRootfs(layout);
      for (let i = 0; i < 50 && (await isMounted(layout.merged)); i++)
        await new Promise((r) => setTimeout(r, 20));
      const scratch = await this.#scratchDir();
      try {
        const upper = join(scratch, 'upper');
        await rename(layout.upper, upper);
        return await this.#adopt(state, upper);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    } finally {
      this.#o.signal?.removeEventListener('abort', abort);
      await containers.remove(Id, { force: true, volumes: true }).catch(() => undefined);
      this.#say(`Removing intermediate container ${short}\n`);
    }
  }

  async #copy(
    ins: Instruction,
    state: State,
    env: Env,
    ctx: { stage: Stage; done: State[]; all: Stage[] },
  ): Promise<State> {
    const isAdd = ins.keyword === 'ADD';
    for (const flag of ins.flags.keys())
      if (!['from', 'chown', 'chmod', 'link'].includes(flag))
        throw new EngineError(
          'invalid_argument',
          `line ${ins.line}: unknown flag: --${flag} on ${ins.keyword}`,
        );
    const expand = (w: string) => expandWord(w, env, this.#escape);
    const words = ins.json ? ins.json : splitRaw(ins.args, this.#escape);
    if (words.length < 2)
      throw new EngineError(
        'invalid_argument',
        `line ${ins.line}: ${ins.keyword} requires at least two arguments`,
      );
    const rawDest = words[words.length - 1] as string;
    let dest = ins.json ? rawDest : expand(rawDest);
    const workdir = state.config.config.WorkingDir || '/';
    const trailing = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
    dest = posix.join('/', posix.isAbsolute(dest) ? '' : workdir, dest);
    if (trailing && !dest.endsWith('/')) dest += '/';
    const heredocs = new Map(ins.heredocs.map((h) => [h.name, h]));
    const srcWords = words.slice(0, -1);
    const inline: { name: string; content: string }[] = [];
    const paths: string[] = [];
    for (const word of srcWords) {
      const m = /^<<-?["']?([A-Za-z_]\w*)["']?$/.exec(word);
      const doc = m ? heredocs.get(m[1] as string) : undefined;
      if (doc) inline.push({ name: doc.name, content: doc.expand ? expand(doc.content) : doc.content });
      else paths.push(ins.json ? word : expand(word));
    }
    const urls = paths.filter((p) => /^https?:\/\//.test(p));
    if (urls.length && !isAdd)
      throw new EngineError('invalid_argument', `line ${ins.line}: source can't be a URL for COPY`);
    paths.splice(0, paths.length, ...paths.filter((p) => !urls.includes(p)));
    const chown = ins.flags.get('chown');
    const chmodFlag = ins.flags.get('chmod');
    let chmodValue: number | undefined;
    if (typeof chmodFlag === 'string') {
      if (!/^[0-7]{3,4}$/.test(chmodFlag))
        throw new EngineError('invalid_argument', `line ${ins.line}: invalid chmod ${chmodFlag}`);
      chmodValue = Number.parseInt(chmodFlag, 8);
    }
    const fromFlag = ins.flags.get('from');
    let fromState: State | undefined;
    if (typeof fromFlag === 'string') {
      const from = expand(fromFlag);
      const stage = ctx.all.find(
        (s) => (s.name === from.toLowerCase() || String(s.index) === from) && s.index < ctx.stage.index,
      );
      fromState = stage ? ctx.done[stage.index] : await this.#baseState(from, this.#o.platform);
    }
    const chownText = typeof chown === 'string' ? expand(chown) : '';
    const describe = async (sources: Source[]) => {
      const sum = fromState
        ? `${stateId(fromState)}:${paths.join(',')}`
        : await this.#b.hasher.checksum(sources, this.#ignore);
      const inlineSum = createHash('sha256').update(JSON.stringify(inline)).digest('hex');
      return `${sum}:${inlineSum}`;
    };
    const doCopy = async (sources: Source[], sourceIgnore: IgnoreMatcher | undefined) => {
      const sum = await describe(sources);
      const createdBy = `/bin/sh -c #(nop) ${ins.keyword} ${fromFlag ? `--from=${fromFlag} ` : ''}${sum.slice(0, 64)} in ${dest} `;
      return this.#cached(
        state,
        `${ins.keyword}\0${dest}\0${chownText}\0${chmodFlag ?? ''}\0${sum}`,
        async () => {
          const layer = await this.#overlayStep(state, async (rootfs) => {
            const identity = chownText ? await resolveIdentity(rootfs, chownText) : undefined;
            const options = {
              ...(sourceIgnore ? { ignore: sourceIgnore } : {}),
              ...(identity ? { identity } : {}),
              ...(chmodValue !== undefined ? { chmod: chmodValue } : {}),
              extractArchives: isAdd && !fromState,
            };
            let all = sources;
            let inlineDir: string | undefined;
            if (inline.length) {
              inlineDir = await this.#scratchDir();
              for (const doc of inline)
                await writeFile(join(inlineDir, doc.name), doc.content, { mode: 0o644 });
              all = [
                ...sources,
                ...inline.map((doc) => ({ rel: doc.name, abs: join(inlineDir as string, doc.name) })),
              ];
            }
            try {
              const restore = await pinAncestorTimes(rootfs, dest);
              await copySources(rootfs, all, dest, options);
              await restore();
            } finally {
              if (inlineDir) await rm(inlineDir, { recursive: true, force: true });
            }
          });
          return this.#child(state, createdBy, layer);
        },
      );
    };
    if (fromState) {
      const source = fromState;
      // The copy must happen while the other stage's view is mounted.
      return this.#withView(source, async (root) => {
        const sources = paths.length
          ? await expandSources(root, paths, { confined: false, where: `stage ${fromFlag}` })
          : [];
        return doCopy(sources, undefined);
      });
    }
    const sources = paths.length
      ? await expandSources(this.#contextRoot, paths, {
          ...(this.#ignore ? { ignore: this.#ignore } : {}),
          confined: true,
          where: 'build context',
        })
      : [];
    if (!urls.length) return doCopy(sources, this.#ignore);
    // Remote sources are fetched on every build and take part in the cache key by their content.
    const downloads = await this.#scratchDir();
    try {
      for (const url of urls) sources.push(await downloadSource(url, downloads, this.#o.signal));
      return await doCopy(sources, this.#ignore);
    } finally {
      await rm(downloads, { recursive: true, force: true });
    }
  }
}
