import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

  it('history lists the same steps, sizes and IDs', async () => {
    const r = await both([
      'history',
      '--no-trunc',
      '--format',
      '{{.ID}} {{.CreatedBy}} {{.Size}} {{.Comment}} {{.CreatedSince}}',
      ref,
    ]);
    expect(r.dockerd.code).toBe(0);
    expect(r.berth).toEqual(r.dockerd);
    const missing = await both(['history', 'bt-api-nope:1']);
    expect(missing.dockerd.code).toBe(1);
    expect(missing.berth).toEqual(missing.dockerd);
  });

  it('import of the same rootfs tarball, plain or gzipped, gives the same layer and comment; the image runs', async () => {
    const dir = await mkdtemp('/tmp/bt-api-import-');
    try {
      const rootfs = join(dir, 'rootfs');
      await mkdir(join(rootfs, 'bin'), { recursive: true });
      await copyFile('/bin/busybox', join(rootfs, 'bin', 'busybox'));
      await writeFile(join(rootfs, 'imported'), 'from a tarball\n');
      const tarball = join(dir, 'rootfs.tar');
      execFileSync('tar', ['--numeric-owner', '--mtime=2024-01-01', '-C', rootfs, '-cf', tarball, '.']);
      execFileSync('sh', ['-c', 'gzip -k -n -c "$1" > "$1.gz"', 'sh', tarball]);
      for (const file of [tarball, `${tarball}.gz`]) {
        const imported = await both(['import', '-m', 'bt import', file, 'bt-api-imported:1']);
        expect(imported.dockerd.code).toBe(0);
        expect(imported.berth.code).toBe(0);
        expect(imported.berth.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
        const inspect = await both([
          'image',
          'inspect',
          '--format',
          '{{json .RootFS.Layers}} {{.Comment}} {{.Os}} {{json .Config.Cmd}}',
          'bt-api-imported:1',
        ]);
        expect(inspect.dockerd.code).toBe(0);
        expect(inspect.berth).toEqual(inspect.dockerd);
        const ran = await both([
          'run',
          '--rm',
          '--network',
          'none',
          'bt-api-imported:1',
          '/bin/busybox',
          'cat',
          '/imported',
        ]);
        expect(ran.dockerd).toMatchObject({ code: 0, stdout: 'from a tarball\n' });
        expect(ran.berth).toEqual(ran.dockerd);
        await both(['rmi', 'bt-api-imported:1']);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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

  // Containers: the same scenario on both daemons (no network: the reference runs without bridges).
  describe('containers', () => {
    const ids = (text: string) =>
      text.replace(/\b[0-9a-f]{64}\b/g, 'ID').replace(/\b[0-9a-f]{12}\b/g, 'SHORTID');
    const stripTimes = (text: string) =>
      text
        .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z/g, 'TIME')
        .replace(/(Up|Exited \(\d+\)) .*? (ago|$)/gm, '$1 …');
    async function same(args: string[]) {
      const r = await both(args);
      return {
        berth: { ...r.berth, stdout: stripTimes(ids(r.berth.stdout)), stderr: ids(r.berth.stderr) },
        dockerd: { ...r.dockerd, stdout: stripTimes(ids(r.dockerd.stdout)), stderr: ids(r.dockerd.stderr) },
      };
    }
    afterAll(async () => {
      await both(['rm', '-f', 'bt-diff-fg', 'bt-diff-d']);
    });

    it('run in the foreground: output, stderr and exit code', async () => {
      const r = await same([
        'run',
        '--name',
        'bt-diff-fg',
        '--network',
        'none',
        ref,
        'sh',
        '-c',
        'echo out; echo err >&2; exit 3',
      ]);
      expect(r.dockerd).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
      expect(r.berth).toEqual(r.dockerd);
    });

    it('run -d, then ps --format, logs, inspect --format of the common fields', async () => {
      const run = await same([
        'run',
        '-d',
        '--name',
        'bt-diff-d',
        '--network',
        'none',
        '-e',
        'A=1',
        '-l',
        'bt=1',
        ref,
        'sh',
        '-c',
        'echo started; sleep 1000',
      ]);
      expect(run.berth).toEqual(run.dockerd);
      await new Promise((r) => setTimeout(r, 500));
      const ps = await same([
        'ps',
        '--filter',
        'name=bt-diff-d',
        '--format',
        '{{.Names}} {{.Image}} {{.Command}} {{.Labels}} {{.State}}',
      ]);
      expect(ps.berth).toEqual(ps.dockerd);
      const logs = await same(['logs', 'bt-diff-d']);
      expect(logs.berth).toEqual(logs.dockerd);
      const format =
        '{{.Name}} {{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{json .Config.Cmd}} {{json .Config.Labels}} {{.Config.Image}} {{.HostConfig.NetworkMode}} {{.RestartCount}} {{.Config.Tty}}';
      const inspect = await same(['inspect', '--format', format, 'bt-diff-d']);
      expect(inspect.dockerd.code).toBe(0);
      expect(inspect.berth).toEqual(inspect.dockerd);
      const kill = await same(['kill', 'bt-diff-d']);
      expect(kill.berth).toEqual(kill.dockerd);
      const stopped = await same([
        'inspect',
        '--format',
        '{{.State.Status}} {{.State.ExitCode}}',
        'bt-diff-d',
      ]);
      expect(stopped.berth).toEqual(stopped.dockerd);
    });

    it('healthchecks: starting, unhealthy after the retries, healthy after a success, a timed-out probe', async () => {
      const names = ['bt-diff-health', 'bt-diff-slow'];
      try {
        const run = await same([
          'run',
          '-d',
          '--name',
          'bt-diff-health',
          '--network',
          'none',
          '--health-cmd',
          'echo probing; test -e /tmp/ok',
          '--health-interval',
          '200ms',
          '--health-retries',
          '2',
          ref,
          'sleep',
          '1000',
        ]);
        expect(run.berth).toEqual(run.dockerd);
        const status = async (name: string) => {
          const r = await both(['inspect', '--format', '{{.State.Health.Status}}', name]);
          return `${r.berth.stdout.trim()}/${r.dockerd.stdout.trim()}`;
        };
        await expect
          .poll(() => status('bt-diff-health'), { timeout: 10_000, interval: 100 })
          .toBe('unhealthy/unhealthy');
        const listed = await both([
          'ps',
          '--filter',
          'health=unhealthy',
          '--format',
          '{{.Names}}|{{.Status}}',
        ]);
        for (const out of [listed.berth.stdout, listed.dockerd.stdout])
          expect(out).toMatch(/^bt-diff-health\|Up .* \(unhealthy\)\n$/);
        expect((await both(['exec', 'bt-diff-health', 'touch', '/tmp/ok'])).berth.code).toBe(0);
        await expect
          .poll(() => status('bt-diff-health'), { timeout: 10_000, interval: 100 })
          .toBe('healthy/healthy');
        const format =
          '{{.State.Health.Status}} {{.State.Health.FailingStreak}} {{json .Config.Healthcheck}} {{(index .State.Health.Log 0).Output}}';
        const inspect = await same(['inspect', '--format', format, 'bt-diff-health']);
        expect(inspect.berth).toEqual(inspect.dockerd);
        const healthy = await both(['ps', '--filter', 'health=healthy', '--format', '{{.Names}}']);
        expect(healthy.berth).toEqual(healthy.dockerd);

        await both([
          'run',
          '-d',
          '--name',
          'bt-diff-slow',
          '--network',
          'none',
          '--health-cmd',
          'sleep 5',
          '--health-interval',
          '200ms',
          '--health-timeout',
          '300ms',
          ref,
          'sleep',
          '1000',
        ]);
        const firstResult = async () => {
          const r = await both([
            'inspect',
            '--format',
            '{{with .State.Health.Log}}{{(index . 0).ExitCode}} {{(index . 0).Output}}{{end}}',
            'bt-diff-slow',
          ]);
          return [r.berth.stdout, r.dockerd.stdout];
        };
        await expect
          .poll(firstResult, { timeout: 10_000, interval: 100 })
          .toEqual([
            '-1 Health check exceeded timeout (300ms)\n',
            '-1 Health check exceeded timeout (300ms)\n',
          ]);
      } finally {
        await both(['rm', '-f', ...names]);
      }
    });

    it('update changes the restart policy and limits, and refuses what dockerd refuses', async () => {
      await both(['run', '-d', '--name', 'bt-diff-up', '--network', 'none', ref, 'sleep', '1000']);
      try {
        const update = await same([
          'update',
          '--restart',
          'on-failure:2',
          '--cpus',
          '0.5',
          '--pids-limit',
          '50',
          'bt-diff-up',
        ]);
        expect(update.dockerd).toMatchObject({ code: 0, stdout: 'bt-diff-up\n' });
        expect(update.berth).toEqual(update.dockerd);
        const format =
          '{{json .HostConfig.RestartPolicy}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}';
        const inspect = await same(['inspect', '--format', format, 'bt-diff-up']);
        expect(inspect.berth).toEqual(inspect.dockerd);
        const tooSmall = await same(['update', '--memory', '1k', 'bt-diff-up']);
        expect(tooSmall.dockerd.code).not.toBe(0);
        expect(tooSmall.berth).toEqual(tooSmall.dockerd);
        const missing = await same(['update', '--cpus', '1', 'bt-diff-nope']);
        expect(missing.dockerd.code).not.toBe(0);
        expect(missing.berth).toEqual(missing.dockerd);
      } finally {
        await both(['rm', '-f', 'bt-diff-up']);
      }
      await both(['run', '-d', '--rm', '--name', 'bt-diff-auto', '--network', 'none', ref, 'sleep', '1000']);
      try {
        const autoRemove = await same(['update', '--restart', 'always', 'bt-diff-auto']);
        expect(autoRemove.dockerd.code).not.toBe(0);
        expect(autoRemove.berth).toEqual(autoRemove.dockerd);
      } finally {
        await both(['rm', '-f', 'bt-diff-auto']);
      }
    });

    it.each([[['start', 'bt-diff-nope']], [['rm', 'bt-diff-nope']], [['logs', 'bt-diff-nope']]])(
      '%j fails with the same message',
      async (args) => {
        const r = await same(args);
        expect(r.dockerd.code).not.toBe(0);
        expect(r.berth).toEqual(r.dockerd);
      },
    );

    it('a name in use and removing a running container fail with the same message', async () => {
      await both(['run', '-d', '--name', 'bt-diff-busy', '--network', 'none', ref, 'sleep', '1000']);
      try {
        const dup = await same(['create', '--name', 'bt-diff-busy', '--network', 'none', ref, 'true']);
        expect(dup.dockerd.code).not.toBe(0);
        expect(dup.berth).toEqual(dup.dockerd);
        const busy = await same(['rm', 'bt-diff-busy']);
        expect(busy.dockerd.code).not.toBe(0);
        expect(busy.berth).toEqual(busy.dockerd);
      } finally {
        await both(['rm', '-f', 'bt-diff-busy']);
      }
    });
  });

  // dockerd 20.10 writes the older archive form (plain layer tars, `<id>/layer.tar`); Berth writes the OCI
  // layout with Docker's manifest.json. Each daemon loads the other's archive into the same image, which runs.
  it('docker save on one daemon, docker load on the other, both ways', async () => {
    const dir = await mkdtemp('/tmp/bt-api-archive-');
    try {
      const fromDockerd = join(dir, 'dockerd.tar');
      const fromBerth = join(dir, 'berth.tar');
      expect((await runDocker(dockerd.host, dockerdConfig, ['save', '-o', fromDockerd, ref])).code).toBe(0);
      expect((await berth.docker(['save', '-o', fromBerth, ref])).code).toBe(0);
      const idOf = async (on: 'berth' | 'dockerd') =>
        (
          await (on === 'berth'
            ? berth.docker(['image', 'inspect', '--format', '{{.Id}}', ref])
            : runDocker(dockerd.host, dockerdConfig, ['image', 'inspect', '--format', '{{.Id}}', ref]))
        ).stdout.trim();
      const id = await idOf('dockerd');
      expect(await idOf('berth')).toBe(id);

      const removed = await both(['rmi', ref]);
      expect(removed.berth.code).toBe(0);
      expect(removed.dockerd.code).toBe(0);
      const intoBerth = await berth.docker(['load', '-i', fromDockerd]);
      const intoDockerd = await runDocker(dockerd.host, dockerdConfig, ['load', '-i', fromBerth]);
      expect(intoDockerd).toMatchObject({ code: 0, stdout: `Loaded image: ${ref}\n` });
      expect(intoBerth).toMatchObject({ code: 0, stdout: `Loaded image: ${ref}\n` });
      expect(await idOf('berth')).toBe(id);
      expect(await idOf('dockerd')).toBe(id);
      const ran = await both(['run', '--rm', '--network', 'none', ref, 'echo', 'loaded']);
      expect(ran.dockerd).toMatchObject({ code: 0, stdout: 'loaded\n' });
      expect(ran.berth).toEqual(ran.dockerd);

      const missing = await both(['save', '-o', join(dir, 'nope.tar'), 'bt-api-nope:1']);
      expect(missing.dockerd.code).toBe(1);
      expect(missing.berth).toMatchObject({ code: 1, stdout: '' });
      expect(missing.berth.stderr).toMatch(/^Error response from daemon: No such image: bt-api-nope:1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
