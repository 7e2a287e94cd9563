/**
 * Named volumes with the `local` driver: a directory `<dataRoot>/volumes/<name>/_data` plus a small JSON
 * record, as dockerd lays them out. Anonymous volumes are named volumes with a random name and a label.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { EngineError } from '../errors';
import type { EventBus } from '../events';

export const anonymousLabel = 'com.docker.volume.anonymous';
const volumeNameRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const recordSchema = z.object({
  name: z.string().regex(volumeNameRe),
  createdAt: z.string(),
  labels: z.record(z.string(), z.string()),
  options: z.record(z.string(), z.string()),
});
type VolumeRecord = z.infer<typeof recordSchema>;

/** `docker volume inspect`. */
export interface VolumeInspect {
  Name: string;
  Driver: 'local';
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: Record<string, string>;
  UsageData?: { Size: number; RefCount: number };
}

export interface VolumeCreateRequest {
  Name?: string;
  Driver?: string;
  Labels?: Record<string, string> | null;
  DriverOpts?: Record<string, string> | null;
}

/** Which containers use a volume; the container store provides it so removal can refuse. */
export type VolumeUsage = (name: string) => string[];

export class VolumeStore {
  readonly #root: string;
  readonly #events: EventBus;
  readonly #records = new Map<string, VolumeRecord>();
  #usage: VolumeUsage = () => [];

  private constructor(root: string, events: EventBus) {
    this.#root = root;
    this.#events = events;
  }

  static async open(dataRoot: string, events: EventBus): Promise<VolumeStore> {
    const store = new VolumeStore(join(dataRoot, 'volumes'), events);
    await mkdir(store.#root, { recursive: true, mode: 0o701 });
    for (const name of await readdir(store.#root)) {
      try {
        const record = recordSchema.parse(
          JSON.parse(await readFile(join(store.#root, name, 'volume.json'), 'utf8')),
        );
        if (record.name === name) store.#records.set(name, record);
      } catch {
        // A directory without a valid record is not a volume (a crash between mkdir and the record).
      }
    }
    return store;
  }

  setUsage(usage: VolumeUsage): void {
    this.#usage = usage;
  }

  mountpoint(name: string): string {
    return join(this.#root, name, '_data');
  }

  async create(request: VolumeCreateRequest = {}): Promise<VolumeInspect> {
    if (request.Driver && request.Driver !== 'local')
      throw new EngineError(
        'invalid_argument',
        `volume driver "${request.Driver}" is not supported; use local`,
      );
    const name = request.Name || randomBytes(32).toString('hex');
    if (!volumeNameRe.test(name))
      throw new EngineError(
        'invalid_argument',
        `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`,
      );
    const existing = this.#records.get(name);
    if (existing) return this.#inspect(existing);
    const record: VolumeRecord = {
      name,
      createdAt: new Date().toISOString(),
      labels: request.Labels ?? {},
      options: request.DriverOpts ?? {},
    };
    await mkdir(this.mountpoint(name), { recursive: true, mode: 0o755 });
    const file = join(this.#root, name, 'volume.json');
    await writeFile(`${file}.tmp`, JSON.stringify(record));
    await rename(`${file}.tmp`, file);
    this.#records.set(name, record);
    this.#events.emit('volume', 'create', name, { driver: 'local' });
    return this.#inspect(record);
  }

  createAnonymous(): Promise<VolumeInspect> {
    return this.create({ Labels: { [anonymousLabel]: '' } });
  }

  has(name: string): boolean {
    return this.#records.has(name);
  }

  isAnonymous(name: string): boolean {
    return this.#records.get(name)?.labels[anonymousLabel] !== undefined;
  }

  inspect(name: string): VolumeInspect {
    const record = this.#records.get(name);
    if (!record) throw new EngineError('not_found', `get ${name}: no such volume`);
    return this.#inspect(record);
  }

  list(filters: Record<string, string[]> = {}): VolumeInspect[] {
    const out: VolumeInspect[] = [];
    for (const record of this.#records.values()) {
      if (filters.name?.length && !filters.name.some((n) => record.name.includes(n))) continue;
      if (filters.label?.length && !filters.label.every((l) => labelMatches(record.labels, l))) continue;
      if (filters.dangling?.length) {
        const dangling = this.#usage(record.name).length === 0;
        if (filters.dangling.some((d) => (d === 'true' || d === '1') !== dangling)) continue;
      }
      if (filters.driver?.length && !filters.driver.includes('local')) continue;
      out.push(this.#inspect(record));
    }
    return out.sort((a, b) => a.Name.localeCompare(b.Name));
  }

  async remove(name: string, options: { force?: boolean } = {}): Promise<void> {
    const record = this.#records.get(name);
    if (!record) {
      if (options.force) return;
      throw new EngineError('not_found', `get ${name}: no such volume`);
    }
    const users = this.#usage(name);
    if (users.length)
      throw new EngineError('conflict', `remove ${name}: volume is in use - [${users.join(', ')}]`);
    this.#records.delete(name);
    await rm(join(this.#root, name), { recursive: true, force: true });
    this.#events.emit('volume', 'destroy', name, { driver: 'local' });
  }

  /** Removes unused volumes: anonymous ones only, unless `all` (Docker 23+ semantics). */
  async prune(
    filters: Record<string, string[]> = {},
  ): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const all = filters.all?.some((v) => v === 'true' || v === '1') ?? false;
    const deleted: string[] = [];
    let space = 0;
    for (const record of [...this.#records.values()]) {
      if (this.#usage(record.name).length) continue;
      if (!all && record.labels[anonymousLabel] === undefined) continue;
      if (filters.label?.length && !filters.label.every((l) => labelMatches(record.labels, l))) continue;
      space += await directorySize(this.mountpoint(record.name));
      await this.remove(record.name);
      deleted.push(record.name);
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: space };
  }

  async usage(): Promise<VolumeInspect[]> {
    const out: VolumeInspect[] = [];
    for (const record of this.#records.values())
      out.push({
        ...this.#inspect(record),
        UsageData: {
          Size: await directorySize(this.mountpoint(record.name)),
          RefCount: this.#usage(record.name).length,
        },
      });
    return out;
  }

  #inspect(record: VolumeRecord): VolumeInspect {
    return {
      Name: record.name,
      Driver: 'local',
      Mountpoint: this.mountpoint(record.name),
      CreatedAt: record.createdAt,
      Labels: record.labels,
      Scope: 'local',
      Options: record.options,
    };
  }
}

export function labelMatches(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=');
  if (eq === -1) return labels[filter] !== undefined;
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

export async function directorySize(path: string): Promise<number> {
  let total = 0;
  const { lstat } = await import('node:fs/promises');
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) total += await directorySize(child);
    else total += (await lstat(child).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
