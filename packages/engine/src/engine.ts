import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Builder } from './build/builder';
import { OciRuntime } from './containers/runtime';
import { ContainerStore } from './containers/store';
import { EventBus } from './events';
import type { RegistryClientOptions, RegistryCredentials } from './images/registry';
import { ImageStore } from './images/store';
import { NetworkManager } from './networks/manager';
import { VolumeStore } from './volumes/store';

export interface EngineOptions {
  dataRoot: string;
  /** State that must not outlive a reboot; default `<dataRoot>/run`. */
  runRoot?: string;
  /** Registries reached over plain HTTP besides loopback ones (Docker's insecure-registries). */
  insecureRegistries?: string[];
  /** Default credentials per registry domain (`docker.io`, `host:port`). */
  registryCredentials?: Record<string, RegistryCredentials>;
  registry?: Pick<RegistryClientOptions, 'retries' | 'backoff'>;
  /** Push blobs bigger than this in chunks of this size; unset means one streamed PUT per blob. */
  pushChunkSize?: number;
  /** Host interface names for bridges (tests give their own prefix): see NetworkManagerOptions. */
  bridgePrefix?: string;
  defaultBridgeName?: string;
  defaultBridgeSubnet?: string;
  /** Containers with restart policy always/unless-stopped that are down are started on open (Docker does). */
  startPolicyContainers?: boolean;
}

/**
 * One engine per data root: a capability per concern. Containers, volumes and networks join here as they land;
 * each is opened in `open()` and closed in reverse order in `close()`.
 */
export class Engine implements AsyncDisposable {
  readonly dataRoot: string;
  readonly runRoot: string;
  readonly events: EventBus;
  readonly images: ImageStore;
  readonly volumes: VolumeStore;
  readonly networks: NetworkManager;
  readonly containers: ContainerStore;
  /** `docker build`: Dockerfiles built into images of this engine's store. */
  readonly builder: Builder;

  private constructor(fields: {
    dataRoot: string;
    runRoot: string;
    events: EventBus;
    images: ImageStore;
    volumes: VolumeStore;
    networks: NetworkManager;
    containers: ContainerStore;
  }) {
    this.dataRoot = fields.dataRoot;
    this.runRoot = fields.runRoot;
    this.events = fields.events;
    this.images = fields.images;
    this.volumes = fields.volumes;
    this.networks = fields.networks;
    this.containers = fields.containers;
    this.builder = new Builder({
      images: fields.images,
      containers: fields.containers,
      dataRoot: fields.dataRoot,
    });
  }

  static async open(options: EngineOptions): Promise<Engine> {
    const dataRoot = resolve(options.dataRoot);
    const runRoot = resolve(options.runRoot ?? join(dataRoot, 'run'));
    await mkdir(dataRoot, { recursive: true, mode: 0o711 });
    await mkdir(runRoot, { recursive: true, mode: 0o711 });
    const events = new EventBus();
    const images = await ImageStore.open({
      dataRoot,
      events,
      ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
      ...(options.registryCredentials ? { credentials: options.registryCredentials } : {}),
      ...(options.registry ? { registryOptions: options.registry } : {}),
      ...(options.pushChunkSize ? { pushChunkSize: options.pushChunkSize } : {}),
    });
    await images.warm();
    const volumes = await VolumeStore.open(dataRoot, events);
    const networks = await NetworkManager.open({
      dataRoot,
      runRoot,
      events,
      ...(options.bridgePrefix ? { bridgePrefix: options.bridgePrefix } : {}),
      ...(options.defaultBridgeName ? { defaultBridgeName: options.defaultBridgeName } : {}),
      ...(options.defaultBridgeSubnet ? { defaultBridgeSubnet: options.defaultBridgeSubnet } : {}),
    });
    const containers = await ContainerStore.open({
      dataRoot,
      runRoot,
      events,
      images,
      volumes,
      runtime: new OciRuntime(runRoot),
      networks,
    });
    if (options.startPolicyContainers) await containers.startPolicyContainers();
    return new Engine({ dataRoot, runRoot, events, images, volumes, networks, containers });
  }

  /** Stops watching; running containers keep running (they belong to conmon and runc). */
  async close(): Promise<void> {
    await this.containers.close();
    await this.networks.releaseIdle();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
