import type { Engine } from '../engine';

/**
 * Runs an image's own command to its exit in a container with no network, and removes the container: what it
 * wrote, stdout and stderr in the order they came.
 */
export async function imageOutput(engine: Engine, image: string): Promise<string> {
  const { Id } = await engine.containers.create({ Image: image, HostConfig: { NetworkMode: 'none' } });
  try {
    await engine.containers.start(Id);
    await engine.containers.wait(Id);
    let out = '';
    for await (const entry of engine.containers.logs(Id, { stdout: true, stderr: true, follow: false }))
      out += entry.data.toString();
    return out;
  } finally {
    await engine.containers.remove(Id, { force: true, volumes: true });
  }
}
