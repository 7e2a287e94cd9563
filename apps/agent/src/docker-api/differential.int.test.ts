import { mkdtemp, rm } from 'node:fs/promises';
import { pushBusybox, type StartedRegistry, startRegistry } from '@berth/engine/testing/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReferenceDockerd, startReferenceDockerd } from './reference';
import { type CliResult, runDocker, startTestAgent, type TestAgent } from './testing';

// The same docker CLI commands against Debian's dockerd 20.10 and against Berth must print the same thing,
// apart from times and the registry's random port.
describe('docker CLI: Berth behaves like dockerd', () => {
  let berth: TestAgent;
  let dockerd: ReferenceDockerd;
  let registry: StartedRegistry;
  let dockerdConfig: string;
  let ref: string;

  beforeAll(async () => {
    registry = await startRegistry();
    ref = await pushBusybox(registry, 'bt-api/busybox:1.0');
    berth = await startTestAgent();
    dockerd = await startReferenceDockerd();
    dockerdConfig = await mkdtemp('/tmp/bt-api-refcfg-');
  });
  afterAll(async () => {
    await berth?.[Symbol.asyncDispose]();
    await dockerd?.[Symbol.asyncDispose]();
    await registry?.[Symbol.asyncDispose]();
    if (dockerdConfig) await rm(dockerdConfig, { recursive: true, force: true });
  });

  const normalize = (r: CliResult) => ({
    code: r.code,
    stdout: r.stdout.replaceAll(registry.host, 'REGISTRY'),
    stderr: r.stderr.replaceAll(registry.host, 'REGISTRY'),
  });

  async function both(args: string[]) {
    const [b, d] = await Promise.all([berth.docker(args), runDocker(dockerd.host, dockerdConfig, args)]);
    return { berth: normalize(b), dockerd: normalize(d) };
  }

  it('pull ends with the same digest and status lines', async () => {
    const r = await both(['pull', ref]);
    expect(r.dockerd.code).toBe(0);
    expect(r.berth.code).toBe(0);
    const tail = (s: string) => s.trim().split('\n').slice(-3);
    expect(tail(r.berth.stdout)).toEqual(tail(r.dockerd.stdout));
  });

  it('images --format lists the same repository, tag and image ID', async () => {
    const r = await both(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    expect(r.berth).toEqual(r.dockerd);
  });

  it('image inspect --format gives the same common fields', async () => {
    const format =
      '{{.Id}} {{.Os}} {{.Architecture}} {{json .RepoTags}} {{json .RepoDigests}} {{json .Config.Cmd}} {{json .Config.Env}} {{.RootFS.Type}} {{json .RootFS.Layers}}';
    const r = await both(['image', 'inspect', '--format', format, ref]);
    expect(r.dockerd.code).toBe(0);
    expect(r.berth).toEqual(r.dockerd);
  });

  it('tag then rmi print the same', async () => {
    const tagged = `${registry.host}/bt-api/copy:1`;
    const tag = await both(['tag', ref, tagged]);
    expect(tag.berth).toEqual(tag.dockerd);
    const rmi = await both(['rmi', tagged]);
    expect(rmi.berth).toEqual(rmi.dockerd);
  });

  // The engine names a missing image as typed where dockerd adds `:latest` (reported to the image store), so
  // these compare exit code, output and the shared part of the message.
  it.each([
    [['rmi', 'bt-api-nope']],
    [['image', 'inspect', 'bt-api-nope']],
    [['tag', 'bt-api-nope', 'bt-api-other']],
  ])('%j fails the same way', async (args) => {
    const r = await both(args);
    expect(r.dockerd.code).toBe(1);
    expect(r.berth.code).toBe(r.dockerd.code);
    expect(r.berth.stdout).toBe(r.dockerd.stdout);
    expect(r.dockerd.stderr).toContain('Error response from daemon: ');
    expect(r.berth.stderr).toMatch(/^Error response from daemon: No such image: bt-api-nope/);
  });

  it.each([
    [['pull', 'BT-API-Upper']],
    [['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}} {{.Server.Arch}}']],
  ])('%j answers the same', async (args) => {
    const r = await both(args);
    expect(r.berth).toEqual(r.dockerd);
  });

  it('pull of a missing tag fails the same way', async () => {
    const r = await both(['pull', `${registry.host}/bt-api/busybox:nope`]);
    expect(r.dockerd.code).toBe(1);
    expect(r.berth.code).toBe(1);
    expect(r.berth.stderr).toMatch(/^Error response from daemon: .*not found/);
  });
});
