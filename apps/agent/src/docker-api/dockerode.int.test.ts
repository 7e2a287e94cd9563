/**
 * The raw Docker Engine API through dockerode, the client most Node tools (testcontainers among them) use:
 * progress streams, multiplexed logs, hijacked attach and exec with stdin, events, and dockerd's errors.
 */
import { PassThrough } from 'node:stream';
import { pushBusybox, type StartedRegistry, startRegistry } from '@berth/engine/testing/index';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from './testing';

interface Demuxed {
  stdout: string;
  stderr: string;
}

/** Splits a multiplexed stream with dockerode's own demuxer, resolving when it ends. */
function demux(docker: Docker, stream: NodeJS.ReadableStream): Promise<Demuxed> {
  const out = { stdout: '', stderr: '' };
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => {
    out.stdout += c.toString();
  });
  stderr.on('data', (c: Buffer) => {
    out.stderr += c.toString();
  });
  docker.modem.demuxStream(stream, stdout, stderr);
  return new Promise((resolve, reject) => {
    stream.on('end', () => resolve(out));
    stream.on('close', () => resolve(out));
    stream.on('error', reject);
  });
}

describe('docker api: the raw API through dockerode', () => {
  let t: TestAgent;
  let registry: StartedRegistry;
  let docker: Docker;
  let image: string;

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushBusybox(registry, 'bt-dockerode/busybox:1.0');
    t = await startTestAgent();
    docker = new Docker({ socketPath: t.socket });
  });
  afterAll(async () => {
    await t?.[Symbol.asyncDispose]();
    await registry?.[Symbol.asyncDispose]();
  });

  it('pings, reports its version, and pulls with a progress stream that ends in a status', async () => {
    expect((await docker.ping()).toString()).toBe('OK');
    const version = await docker.version();
    expect(version.ApiVersion).toMatch(/^1\.\d+$/);
    expect(version.Os).toBe('linux');
    const stream = await docker.pull(image);
    const events = await new Promise<Array<{ status?: string; id?: string }>>((resolve, reject) =>
      docker.modem.followProgress(stream, (error, output) => (error ? reject(error) : resolve(output))),
    );
    expect(events.some((e) => e.status === 'Pull complete' || e.status === 'Already exists')).toBe(true);
    expect(events.at(-1)?.status).toMatch(/^Status: (Downloaded newer image|Image is up to date) for /);
    const inspected = await docker.getImage(image).inspect();
    expect(inspected.RepoTags).toContain(image);
  });

  it('creates, starts, waits and reads multiplexed logs with stdout and stderr apart', async () => {
    const container = await docker.createContainer({
      Image: image,
      name: 'bt-dockerode-logs',
      Cmd: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 2'],
      Labels: { 'bt.suite': 'dockerode' },
    });
    await container.start();
    expect(await container.wait()).toMatchObject({ StatusCode: 2 });
    const logs = await container.logs({ stdout: true, stderr: true, follow: true });
    expect(await demux(docker, logs)).toEqual({ stdout: 'to-out\n', stderr: 'to-err\n' });
    const listed = await docker.listContainers({ all: true, filters: { label: ['bt.suite=dockerode'] } });
    expect(listed.map((c) => c.Names[0])).toEqual(['/bt-dockerode-logs']);
    expect(listed[0]?.State).toBe('exited');
    await container.remove();
  });

  it('attaches stdin through a hijacked connection, half-closes it, and sees the container finish', async () => {
    const container = await docker.createContainer({
      Image: image,
      Cmd: ['sh', '-c', 'tr a-z A-Z; echo done >&2'],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = (await container.attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
    })) as NodeJS.ReadWriteStream & { end(data?: string): void };
    const output = demux(docker, stream);
    await container.start();
    stream.end('shout this\n');
    expect(await output).toEqual({ stdout: 'SHOUT THIS\n', stderr: 'done\n' });
    expect(await container.wait()).toMatchObject({ StatusCode: 0 });
    await container.remove();
  });

  it('execs with and without stdin and reports the exit code in exec inspect', async () => {
    const container = await docker.createContainer({ Image: image, Cmd: ['sleep', '300'] });
    await container.start();
    const plain = await container.exec({
      Cmd: ['sh', '-c', 'echo exec-out; echo exec-err >&2; exit 9'],
      AttachStdout: true,
      AttachStderr: true,
    });
    const plainStream = await plain.start({});
    expect(await demux(docker, plainStream)).toEqual({ stdout: 'exec-out\n', stderr: 'exec-err\n' });
    await expect.poll(async () => (await plain.inspect()).ExitCode).toBe(9);

    const withInput = await container.exec({
      Cmd: ['wc', '-l'],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
    });
    const inputStream = (await withInput.start({ hijack: true, stdin: true })) as NodeJS.ReadWriteStream & {
      end(data?: string): void;
    };
    const counted = demux(docker, inputStream);
    inputStream.end('1\n2\n3\n');
    expect((await counted).stdout.trim()).toBe('3');
    await container.remove({ force: true });
  });

  it('streams events filtered by type and action', async () => {
    const events = await docker.getEvents({ filters: { type: ['container'], event: ['start'] } });
    const seen = new Promise<{ Action: string; Actor: { Attributes: Record<string, string> } }>((resolve) =>
      events.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) resolve(JSON.parse(line));
      }),
    );
    const container = await docker.createContainer({ Image: image, name: 'bt-dockerode-ev', Cmd: ['true'] });
    await container.start();
    const event = await seen;
    expect(event.Action).toBe('start');
    expect(event.Actor.Attributes.name).toBe('bt-dockerode-ev');
    (events as unknown as { destroy(): void }).destroy();
    await container.wait();
    await container.remove();
  });

  it("answers with dockerd's status codes and messages", async () => {
    const failure = async (promise: Promise<unknown>) => {
      try {
        await promise;
      } catch (error) {
        const e = error as { statusCode: number; json: { message: string } };
        return { statusCode: e.statusCode, message: e.json.message };
      }
      throw new Error('the request succeeded');
    };
    expect(await failure(docker.getContainer('bt-nope').inspect())).toEqual({
      statusCode: 404,
      message: 'No such container: bt-nope',
    });
    expect(await failure(docker.getImage('bt-missing/image:1').inspect())).toEqual({
      statusCode: 404,
      message: 'No such image: bt-missing/image:1',
    });
    const running = await docker.createContainer({
      Image: image,
      name: 'bt-dockerode-err',
      Cmd: ['sleep', '300'],
    });
    await running.start();
    const conflict = await failure(docker.createContainer({ Image: image, name: 'bt-dockerode-err' }));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.message).toMatch(/Conflict. The container name "\/bt-dockerode-err" is already in use/);
    const removal = await failure(running.remove());
    expect(removal.statusCode).toBe(409);
    expect(removal.message).toMatch(
      /^You cannot remove a running container [0-9a-f]{64}\. Stop the container/,
    );
    // A client that goes away mid-stream leaves the agent serving.
    const follow = await running.logs({ stdout: true, follow: true });
    (follow as unknown as { destroy(): void }).destroy();
    expect((await docker.ping()).toString()).toBe('OK');
    await running.remove({ force: true });
  });
});
