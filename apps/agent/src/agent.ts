/**
 * One agent per host: opens the engine and the services that sit on it (today the Docker Engine API socket;
 * the control-plane link joins here). Disposing it stops the services and closes the engine, which leaves
 * running containers running.
 */
import { Engine, type EngineOptions } from '@berth/engine';
import type { Logger } from 'pino';
import { containerBackend } from './docker-api/engine-backend';
import { DockerApiServer } from './docker-api/server';

export interface AgentOptions {
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
  readonly #log: Logger;
  #closed = false;

  private constructor(engine: Engine, dockerApi: DockerApiServer | undefined, log: Logger) {
    this.engine = engine;
    this.dockerApi = dockerApi;
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
    options.log.info({ dataRoot: engine.dataRoot }, 'agent started');
    return new Agent(engine, dockerApi, options.log);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
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
