import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pushBusybox, type StartedRegistry, startRegistry } from '@berth/engine/testing/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReferenceDockerd, startReferenceDockerd } from '../reference';
import { type CliResult, dockerCli, startTestAgent, type TestAgent } from '../testing';

function docker(host: string, configDir: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      dockerCli,
      ['-H', host, ...args],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          DOCKER_CONFIG: configDir,
          HOME: configDir,
          DOCKER_BUILDKIT: '0',
        },
        timeout: 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** The Config fields a Dockerfile sets, as `docker inspect` shows them. */
const configFields =
  '{{json .Config.Cmd}} {{json .Config.Entrypoint}} {{json .Config.Env}} {{json .Config.WorkingDir}} {{json .Config.User}} {{json .Config.Labels}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{json .Config.StopSignal}}';

describe('build interop with dockerd', () => {
  let t: TestAgent;
  let ref: ReferenceDockerd;
  let registry: StartedRegistry;
  let ctx: string;
  let base: string;
  const refDocker = (args: string[]) => docker(ref.host, join(ref.root, 'cli'), args);
  const berthDocker = (args: string[]) => docker(t.host, t.configDir, args);

  beforeAll(async () => {
    registry = await startRegistry();
    base = await pushBusybox(registry, 'bt-api/busybox:1');
    t = await startTestAgent();
    ref = await startReferenceDockerd();
    ctx = await mkdtemp(join(t.root, 'ctx-'));
    await writeFile(join(ctx, 'greeting.txt'), 'hello interop\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        `FROM ${base}`,
        'ENV GREETING_FILE=/srv/greeting.txt LANG=C.UTF-8',
        'WORKDIR /srv',
        'COPY greeting.txt ./',
        'RUN echo "line two" >> greeting.txt && rm -f /etc/group && mkdir -p /data',
        'LABEL org.example.app="interop" tier=test',
        'EXPOSE 8080 53/udp',
        'VOLUME /data',
        'STOPSIGNAL SIGINT',
        'USER app',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["cat $GREETING_FILE; ls /etc/group 2>&1; pwd"]',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await t?.[Symbol.asyncDispose]();
    await ref?.[Symbol.asyncDispose]();
    await registry?.[Symbol.asyncDispose]();
  });

  it('an image Berth built runs on dockerd with the same output and Config, and a dockerd build runs on Berth', async () => {
    const berthTag = `${registry.host}/bt-api/berth-built:1`;
    const dockerTag = `${registry.host}/bt-api/dockerd-built:1`;
    const built = await berthDocker(['build', '-t', berthTag, '--network', 'none', ctx]);
    expect(built.code, built.stderr).toBe(0);
    const pushed = await berthDocker(['push', berthTag]);
    expect(pushed.code, pushed.stderr).toBe(0);

    const refBuilt = await refDocker(['build', '-t', dockerTag, '--network', 'none', ctx]);
    expect(refBuilt.code, refBuilt.stderr).toBe(0);
    const refPushed = await refDocker(['push', dockerTag]);
    expect(refPushed.code, refPushed.stderr).toBe(0);

    // dockerd pulls and runs what Berth built
    expect((await refDocker(['pull', berthTag])).code).toBe(0);
    const onDockerd = await refDocker(['run', '--rm', '--network', 'none', berthTag]);
    expect(onDockerd.code, onDockerd.stderr).toBe(0);
    const expected = 'hello interop\nline two\nls: /etc/group: No such file or directory\n/srv\n';
    expect(onDockerd.stdout).toBe(expected);

    // Berth pulls and runs what dockerd built
    expect((await berthDocker(['rmi', base])).code).toBe(0);
    expect((await berthDocker(['pull', dockerTag])).code).toBe(0);
    const onBerth = await berthDocker(['run', '--rm', '--network', 'none', dockerTag]);
    expect(onBerth.code, onBerth.stderr).toBe(0);
    expect(onBerth.stdout).toBe(expected);
    expect((await berthDocker(['run', '--rm', '--network', 'none', berthTag])).stdout).toBe(expected);

    // the same Config fields, whichever daemon built it and whichever inspects it
    const refOfBerth = await refDocker(['image', 'inspect', '--format', configFields, berthTag]);
    const refOfDocker = await refDocker(['image', 'inspect', '--format', configFields, dockerTag]);
    const berthOfBerth = await berthDocker(['image', 'inspect', '--format', configFields, berthTag]);
    expect(refOfBerth.stdout).toBe(refOfDocker.stdout);
    expect(berthOfBerth.stdout).toBe(refOfDocker.stdout);
    expect(refOfBerth.stdout).toContain('"org.example.app":"interop"');
  });
});
