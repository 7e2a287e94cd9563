/**
 * One agent per host: opens the engine and the services that sit on it (today the Docker Engine API socket;
 * the control-plane link joins here). Disposing it stops the services and closes the engine, which leaves
 * running containers running.
 */
import { Engine, type EngineOptions } from '@berth/engine';
import type { Logger } from 'pino';
import { containerBackend } from './docker-api/engine-backend';
import { DockerApiServer } from './docker-api/server';
import { AGENT_VERSION, engineBackend } from './link/backend';
import { ControlPlaneLink, enroll } from './link/client';
import { AgentIdentity } from './link/identity';

export interface AgentOptions {
  /** Dial this control plane (enrolling first with `enrollToken` when this host has no identity yet). */
  controlPlane?: string;
  enrollToken?: string;
  dataRoot: string;
  /** Where to serve the Docker Engine API; omit to run without it. */
  dockerSocket?: string;
  log: Logger;
  /** Passed through to `Engine.open` (run root, insecure registries…). */
  engine?: Omit<EngineOptions, 'dataRoot'>;
}

export class Agent implements AsyncDisposable {
  readonly engine: Engine;
  readonly dockerApi: DockerApiServer | undefined;
  readonly link: ControlPlaneLink | undefined;
  readonly #log: Logger;
  #closed = false;

  private constructor(
    engine: Engine,
    dockerApi: DockerApiServer | undefined,
    link: ControlPlaneLink | undefined,
    log: Logger,
  ) {
    this.engine = engine;
    this.dockerApi = dockerApi;
    this.link = link;
    this.#log = log;
  }

  static async start(options: AgentOptions): Promise<Agent> {
    const engine = await Engine.open({ ...options.engine, dataRoot: options.dataRoot });
    let dockerApi: DockerApiServer | undefined;
    try {
      dockerApi = options.dockerSocket
        ? await DockerApiServer.listen({
            socketPath: options.dockerSocket,
            log: options.log.child({ component: 'docker-api' }),
            deps: {
              events: engine.events,
              dataRoot: engine.dataRoot,
              images: engine.images,
              containers: containerBackend(engine.containers),
              containerStore: engine.containers,
              volumes: engine.volumes,
              networks: engine.networks,
              builder: engine.builder,
              counts: async () => {
                const all = engine.containers.list({ all: true });
                const running = all.filter((c) => c.State === 'running').length;
                const paused = all.filter((c) => c.State === 'paused').length;
                return {
                  containers: all.length,
                  running,
                  paused,
                  stopped: all.length - running - paused,
                  images: engine.images.list().length,
                };
              },
            },
          })
        : undefined;
    } catch (error) {
      await engine.close();
      throw error;
    }
    let link: ControlPlaneLink | undefined;
    try {
      link = options.controlPlane ? await Agent.#link(engine, options) : undefined;
    } catch (error) {
      await dockerApi?.close();
      await engine.close();
      throw error;
    }
    options.log.info({ dataRoot: engine.dataRoot, controlPlane: options.controlPlane }, 'agent started');
    return new Agent(engine, dockerApi, link, options.log);
  }

  static async #link(engine: Engine, options: AgentOptions): Promise<ControlPlaneLink> {
    const controlPlane = options.controlPlane as string;
    const identity = await AgentIdentity.load(engine.dataRoot);
    const backend = engineBackend(engine);
    let hostId = identity.record?.controlPlane === controlPlane ? identity.record.hostId : undefined;
    if (!hostId) {
      if (!options.enrollToken)
        throw new Error(
          `this host is not enrolled with ${controlPlane}: pass --enroll-token from "Add a host"`,
        );
      hostId = await enroll({
        controlPlane,
        token: options.enrollToken,
        identity,
        facts: await backend.facts(),
      });
      options.log.info({ hostId }, 'enrolled with the control plane');
    }
    const log = options.log.child({ component: 'link' });
    return new ControlPlaneLink({
      controlPlane,
      hostId,
      identity,
      backend,
      log,
      agentVersion: AGENT_VERSION,
      onState: (state, detail) => log.info({ state, detail }, 'control-plane link'),
    }).start();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.link?.[Symbol.asyncDispose]();
      await this.dockerApi?.close();
    } finally {
      await this.engine.close();
    }
    this.#log.info('agent stopped');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
