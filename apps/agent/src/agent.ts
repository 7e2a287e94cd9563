/**
 * One agent per host: opens the engine and the services that sit on it (today the Docker Engine API socket;
 * the control-plane link joins here). Disposing it stops the services and closes the engine, which leaves
 * running containers running.
 */
import { EventBus } from '@berth/engine';
import type { Logger } from 'pino';
import { DockerApiServer } from './docker-api/server';

export interface AgentOptions {
  dataRoot: string;
  /** Where to serve the Docker Engine API; omit to run without it. */
  dockerSocket?: string;
  log: Logger;
}

export class Agent implements AsyncDisposable {
  readonly dataRoot: string;
  readonly events: EventBus;
  readonly dockerApi: DockerApiServer | undefined;
  readonly #log: Logger;
  #closed = false;

  private constructor(options: AgentOptions, events: EventBus, dockerApi: DockerApiServer | undefined) {
    this.dataRoot = options.dataRoot;
    this.events = events;
    this.dockerApi = dockerApi;
    this.#log = options.log;
  }

  static async start(options: AgentOptions): Promise<Agent> {
    const events = new EventBus();
    const dockerApi = options.dockerSocket
      ? await DockerApiServer.listen({
          socketPath: options.dockerSocket,
          log: options.log.child({ component: 'docker-api' }),
          deps: { events, dataRoot: options.dataRoot },
        })
      : undefined;
    options.log.info({ dataRoot: options.dataRoot }, 'agent started');
    return new Agent(options, events, dockerApi);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.dockerApi?.close();
    this.#log.info('agent stopped');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
