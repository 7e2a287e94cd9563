/**
 * The engine's container capability seen through the Docker API's `ContainerBackend`: names and shapes only,
 * no behaviour of its own.
 */
import type { ContainerStore } from '@berth/engine';
import type { ContainerBackend } from './routes/containers';

export function containerBackend(containers: ContainerStore): ContainerBackend {
  return {
    create: (body, options) => containers.create(body, options),
    start: (id) => containers.start(id),
    stop: (id, options) => containers.stop(id, options),
    restart: (id, options) => containers.restart(id, options),
    kill: (id, signal) => containers.kill(id, signal),
    pause: (id) => containers.pause(id),
    unpause: (id) => containers.unpause(id),
    remove: (id, options) => containers.remove(id, options),
    list: async (options) => containers.list(options),
    inspect: async (id) => containers.inspect(id),
    wait: (id, condition, signal) => containers.wait(id, condition, signal),
    rename: (id, name) => containers.rename(id, name),
    update: (id, body) => containers.update(id, body),
    commit: (id, options) => containers.commit(id, options),
    top: (id, psArgs) => containers.top(id, psArgs),
    stats: (id) => containers.stats(id),
    changes: (id) => containers.changes(id),
    logs: (id, options, signal) => containers.logs(id, options, signal),
    attach: async (id, options, signal) => {
      const info = containers.inspect(id);
      const stdin = options.stdin ? containers.attachStdin(id) : null;
      return {
        tty: info.Config.Tty,
        ...(stdin ? { stdin } : {}),
        output: containers.attachOutput(
          id,
          { stdout: options.stdout, stderr: options.stderr, logs: options.logs },
          signal,
        ),
      };
    },
    resize: (id, height, width) => containers.resize(id, height, width),
    prune: (filters) => containers.prune(filters),
  };
}
