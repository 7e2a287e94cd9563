import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerStats } from '@berth/engine';
import { pushBusybox, type StartedRegistry, startRegistry } from '@berth/engine/testing/index';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestAgent, type TestAgent } from './testing';

describe('docker api: containers through the docker CLI', () => {
  let t: TestAgent;
  let registry: StartedRegistry;
  let scratch: string;

  beforeAll(async () => {
    registry = await startRegistry();
    const ref = await pushBusybox(registry, 'bt-api/busybox:1.0');
    t = await startTestAgent();
    scratch = await mkdtemp(join(tmpdir(), 'bt-api-files-'));
    expect((await t.docker(['pull', '-q', ref])).code).toBe(0);
    expect((await t.docker(['tag', ref, 'busybox'])).code).toBe(0);
  });
  afterAll(async () => {
    await t?.[Symbol.asyncDispose]();
    await registry?.[Symbol.asyncDispose]();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('run in the foreground prints stdout and stderr and exits with the container code; --rm removes it', async () => {
    const r = await t.docker([
      'run',
      '--name',
      'bt-fg',
      'busybox',
      'sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    ]);
    expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(
      (await t.docker(['inspect', '--format', '{{.State.ExitCode}} {{.State.Status}}', 'bt-fg'])).stdout,
    ).toBe('3 exited\n');
    const rm = await t.docker(['run', '--rm', '--name', 'bt-rm', 'busybox', 'echo', 'gone']);
    expect(rm).toMatchObject({ code: 0, stdout: 'gone\n' });
    const inspect = await t.docker(['inspect', 'bt-rm']);
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toContain('No such object: bt-rm');
    expect((await t.docker(['rm', 'bt-fg'])).code).toBe(0);
  });

  it('run -i feeds stdin to the container through conmon and closes it at end of input', async () => {
    const r = await t.docker(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'cat; echo done'], {
      input: 'line one\nline two\n',
    });
    expect(r).toMatchObject({ code: 0, stdout: 'line one\nline two\ndone\n' });
    // More than one attach packet, in order.
    const big = `${'0123456789'.repeat(20_000)}\n`;
    const count = await t.docker(['run', '-i', '--rm', 'busybox', 'md5sum'], { input: big });
    const { createHash } = await import('node:crypto');
    expect(count.stdout.split(' ')[0]).toBe(createHash('md5').update(big).digest('hex'));
    // Without -i the container's stdin is empty, as with dockerd.
    const closed = await t.docker(['run', '--rm', 'busybox', 'sh', '-c', 'cat; echo eof'], { input: 'x\n' });
    expect(closed).toMatchObject({ code: 0, stdout: 'eof\n' });
  });

  it('attaches a TTY with stdin over the hijacked API connection (what `docker run -it` does), detaches with ctrl-p ctrl-q and attaches again', async () => {
    const created = await t.raw(
      'POST',
      '/v1.41/containers/create?name=bt-tty',
      JSON.stringify({
        Image: 'busybox',
        Cmd: ['sh'],
        Tty: true,
        OpenStdin: true,
        StdinOnce: true,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
      }),
      { 'content-type': 'application/json' },
    );
    expect(created.status).toBe(201);
    const attachPath = '/v1.41/containers/bt-tty/attach?stream=1&stdin=1&stdout=1&stderr=1';
    const first = await hijackedSession(t.socket, attachPath);
    expect((await t.raw('POST', '/v1.41/containers/bt-tty/start')).status).toBe(204);
    first.write('tty && echo "answer $((6 * 7))"\n');
    await expect.poll(first.output, { timeout: 10_000 }).toMatch(/answer 42/);
    expect(first.output()).toMatch(/\/dev\/pts\/\d+/);
    first.write('\x10\x11');
    await first.ended;
    expect((await t.docker(['inspect', '--format', '{{.State.Running}}', 'bt-tty'])).stdout).toBe('true\n');
    const second = await hijackedSession(t.socket, `${attachPath}&detachKeys=ctrl-x,z`);
    second.write('echo "again $((5 * 5))"\n');
    await expect.poll(second.output, { timeout: 10_000 }).toMatch(/again 25/);
    second.write('exit 5\n');
    await second.ended;
    const waited = await t.raw('POST', '/v1.41/containers/bt-tty/wait');
    expect(JSON.parse(waited.body)).toMatchObject({ StatusCode: 5 });
    expect((await t.raw('POST', `${attachPath}&detachKeys=ctrl-1`)).status).toBe(400);
    expect((await t.docker(['rm', 'bt-tty'])).code).toBe(0);
  });

  it('exec with a TTY runs under conmon: a terminal, its size from resize, stdin, the exit code', async () => {
    expect((await t.docker(['run', '-d', '--name', 'bt-exec-tty', 'busybox', 'sleep', '300'])).code).toBe(0);
    // The CLI refuses -i with -t when its own stdin is no terminal; -t alone is allowed.
    const plain = await t.docker(['exec', '-t', 'bt-exec-tty', 'sh', '-c', 'tty; echo $TERM; exit 3']);
    expect(plain.code).toBe(3);
    expect(plain.stdout).toMatch(/^\/dev\/pts\/\d+\r\nxterm\r\n$/);
    const created = await t.raw(
      'POST',
      '/v1.41/containers/bt-exec-tty/exec',
      JSON.stringify({ Cmd: ['sh'], Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true }),
      { 'content-type': 'application/json' },
    );
    const { Id: execId } = JSON.parse(created.body) as { Id: string };
    const session = await hijackedSession(
      t.socket,
      `/v1.41/exec/${execId}/start`,
      JSON.stringify({ Detach: false, Tty: true }),
    );
    await expect
      .poll(async () => (await t.raw('POST', `/v1.41/exec/${execId}/resize?h=41&w=101`)).status)
      .toBe(200);
    session.write('stty size\n');
    await expect.poll(session.output, { timeout: 10_000 }).toMatch(/41 101/);
    session.write('exit 7\n');
    await session.ended;
    await expect
      .poll(async () => JSON.parse((await t.raw('GET', `/v1.41/exec/${execId}/json`)).body).ExitCode)
      .toBe(7);
    expect((await t.raw('POST', `/v1.41/exec/${execId}/resize?h=x&w=1`)).status).toBe(400);
    expect((await t.docker(['rm', '-f', 'bt-exec-tty'])).code).toBe(0);
  });

  it('run applies -e, --env-file, -w, -u, --entrypoint, -l, --memory, --cpus', async () => {
    const envFile = join(scratch, 'env');
    await writeFile(envFile, '# comment\nFROM_FILE=yes\n');
    const r = await t.docker([
      'run',
      '--rm',
      '-e',
      'A=1',
      '--env-file',
      envFile,
      '-w',
      '/tmp',
      '-u',
      'app',
      '-l',
      'bt.label=x',
      '--memory',
      '64m',
      '--cpus',
      '0.5',
      '--entrypoint',
      'sh',
      'busybox',
      '-c',
      'echo $A $FROM_FILE $(pwd) $(id -u)',
    ]);
    expect(r).toMatchObject({ code: 0, stdout: '1 yes /tmp 1000\n' });
  });

  it('runs detached; ps, logs, exec, top, stop, start, restart, kill, pause, rename, wait, rm', async () => {
    const run = await t.docker([
      'run',
      '-d',
      '--name',
      'bt-d',
      '-l',
      'bt.role=web',
      'busybox',
      'sh',
      '-c',
      'echo started; trap "exit 0" TERM; while true; do sleep 0.1; done',
    ]);
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const ps = await t.docker([
      'ps',
      '--filter',
      'label=bt.role=web',
      '--format',
      '{{.Names}} {{.Status}} {{.Command}}',
    ]);
    expect(ps.stdout).toMatch(/^bt-d Up .*"sh -c 'echo/);
    expect(ps.stdout.trim().split('\n')).toHaveLength(1);
    expect((await t.docker(['ps', '-q'])).stdout.trim()).toBe(id.slice(0, 12));
    await expect
      .poll(async () => (await t.docker(['logs', 'bt-d'])).stdout, { timeout: 5000 })
      .toBe('started\n');
    const timestamps = await t.docker(['logs', '-t', '--tail', '1', 'bt-d']);
    expect(timestamps.stdout).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z started\n$/);
    const exec = await t.docker(['exec', 'bt-d', 'sh', '-c', 'echo from-exec; exit 4']);
    expect(exec).toMatchObject({ code: 4, stdout: 'from-exec\n' });
    const stdin = await t.docker(['exec', '-i', 'bt-d', 'cat'], { input: 'piped\n' });
    expect(stdin).toMatchObject({ code: 0, stdout: 'piped\n' });
    const top = await t.docker(['top', 'bt-d']);
    expect(top.stdout).toContain('sleep');
    expect((await t.docker(['pause', 'bt-d'])).code).toBe(0);
    expect((await t.docker(['ps', '--filter', 'status=paused', '-q'])).stdout.trim()).toBe(id.slice(0, 12));
    expect((await t.docker(['unpause', 'bt-d'])).code).toBe(0);
    const stop = await t.docker(['stop', 'bt-d']);
    expect(stop).toMatchObject({ code: 0, stdout: 'bt-d\n' });
    expect((await t.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'bt-d'])).stdout).toBe(
      'exited 0\n',
    );
    expect((await t.docker(['start', 'bt-d'])).code).toBe(0);
    expect((await t.docker(['restart', '-t', '1', 'bt-d'])).code).toBe(0);
    expect((await t.docker(['inspect', '-f', '{{.State.Running}}', 'bt-d'])).stdout).toBe('true\n');
    expect((await t.docker(['rename', 'bt-d', 'bt-d2'])).code).toBe(0);
    const rmRunning = await t.docker(['rm', 'bt-d2']);
    expect(rmRunning.code).toBe(1);
    expect(rmRunning.stderr).toContain('cannot remove a running container');
    const wait = t.docker(['wait', 'bt-d2']);
    expect((await t.docker(['kill', 'bt-d2'])).code).toBe(0);
    expect((await wait).stdout).toBe('137\n');
    expect((await t.docker(['ps', '-a', '--filter', 'exited=137', '--format', '{{.Names}}'])).stdout).toBe(
      'bt-d2\n',
    );
    expect((await t.docker(['rm', '-f', 'bt-d2'])).code).toBe(0);
  });

  it('create then start -a; diff lists changes', async () => {
    const create = await t.docker([
      'create',
      '--name',
      'bt-c',
      'busybox',
      'sh',
      '-c',
      'mkdir /made; echo hi > /made/f; echo attached',
    ]);
    expect(create.code).toBe(0);
    const start = await t.docker(['start', '-a', 'bt-c']);
    expect(start).toMatchObject({ code: 0, stdout: 'attached\n' });
    const diff = await t.docker(['diff', 'bt-c']);
    expect(diff.stdout).toBe('A /made\nA /made/f\n');
    expect((await t.docker(['rm', 'bt-c'])).code).toBe(0);
  });

  it('volumes: -v named, bind, anonymous, --mount; volume create/ls/inspect/rm/prune; rm -v', async () => {
    const hostFile = join(scratch, 'bind');
    await writeFile(join(scratch, 'hello'), 'from host\n');
    expect((await t.docker(['volume', 'create', '--label', 'bt=1', 'bt-vol'])).stdout).toBe('bt-vol\n');
    expect(
      (await t.docker(['volume', 'ls', '--filter', 'label=bt=1', '--format', '{{.Name}} {{.Driver}}']))
        .stdout,
    ).toBe('bt-vol local\n');
    const writer = await t.docker([
      'run',
      '--name',
      'bt-vols',
      '-v',
      'bt-vol:/data',
      '-v',
      `${scratch}:/host`,
      '-v',
      '/anon',
      '--mount',
      `type=bind,source=${scratch},target=/ro,readonly`,
      'busybox',
      'sh',
      '-c',
      'echo kept > /data/f; cat /host/hello; echo made > /host/bind; touch /ro/x 2>/dev/null || echo ro',
    ]);
    expect(writer).toMatchObject({ code: 0, stdout: 'from host\nro\n' });
    expect(await readFile(hostFile, 'utf8')).toBe('made\n');
    const reader = await t.docker([
      'run',
      '--rm',
      '--mount',
      'source=bt-vol,target=/data',
      'busybox',
      'cat',
      '/data/f',
    ]);
    expect(reader.stdout).toBe('kept\n');
    const inUse = await t.docker(['volume', 'rm', 'bt-vol']);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain('volume is in use');
    const anonymous = (
      await t.docker([
        'inspect',
        '-f',
        '{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}',
        'bt-vols',
      ])
    ).stdout.trim();
    expect(anonymous).toMatch(/^[0-9a-f]{64}$/);
    expect((await t.docker(['rm', '-v', 'bt-vols'])).code).toBe(0);
    expect((await t.docker(['volume', 'inspect', anonymous])).code).toBe(1);
    expect(JSON.parse((await t.docker(['volume', 'inspect', 'bt-vol'])).stdout)[0]).toMatchObject({
      Name: 'bt-vol',
      Driver: 'local',
    });
    const prune = await t.docker(['volume', 'prune', '-f']);
    expect(prune.stdout).toContain('bt-vol');
    expect((await t.docker(['volume', 'ls', '-q'])).stdout).toBe('');
  });

  it('cp copies both ways, running or stopped, and never follows a container symlink onto the host', async () => {
    const run = await t.docker([
      'run',
      '-d',
      '--name',
      'bt-cp',
      'busybox',
      'sh',
      '-c',
      'echo inside > /tmp/f; ln -s /etc /tmp/hostetc; sleep 1000',
    ]);
    expect(run.code).toBe(0);
    await expect
      .poll(async () => (await t.docker(['exec', 'bt-cp', 'ls', '/tmp'])).stdout, { timeout: 5000 })
      .toContain('hostetc');
    const out = join(scratch, 'from-ctr');
    const first = await t.docker(['cp', 'bt-cp:/tmp/f', out]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(await readFile(out, 'utf8')).toBe('inside\n');
    // Through the container's absolute symlink: the container's /etc/hostname, not the host's.
    const hostnameCopy = join(scratch, 'hostname-copy');
    expect((await t.docker(['cp', 'bt-cp:/tmp/hostetc/hostname', hostnameCopy])).code).toBe(0);
    expect((await readFile(hostnameCopy, 'utf8')).trim()).toBe(
      (await t.docker(['inspect', '-f', '{{.Config.Hostname}}', 'bt-cp'])).stdout.trim(),
    );
    const marker = join(scratch, 'bt-cp-marker');
    await writeFile(marker, 'copied in\n');
    const copyIn = await t.docker(['cp', marker, 'bt-cp:/tmp/hostetc/']);
    expect(copyIn.stderr).toBe('');
    expect(copyIn.code).toBe(0);
    expect(existsSync('/etc/bt-cp-marker')).toBe(false);
    expect((await t.docker(['exec', 'bt-cp', 'cat', '/etc/bt-cp-marker'])).stdout).toBe('copied in\n');
    expect((await t.docker(['cp', marker, 'bt-cp:/tmp/renamed'])).code).toBe(0);
    expect((await t.docker(['exec', 'bt-cp', 'cat', '/tmp/renamed'])).stdout).toBe('copied in\n');
    const missing = await t.docker(['cp', 'bt-cp:/nope', out]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('Could not find the file /nope in container');
    expect((await t.docker(['stop', '-t', '0', 'bt-cp'])).code).toBe(0);
    const stopped = join(scratch, 'from-stopped');
    expect((await t.docker(['cp', 'bt-cp:/tmp/renamed', stopped])).code).toBe(0);
    expect(await readFile(stopped, 'utf8')).toBe('copied in\n');
    expect((await t.docker(['rm', 'bt-cp'])).code).toBe(0);
  });

  it('cp of the root and export give the whole filesystem, running or stopped, named as dockerd names it', async () => {
    const run = await t.docker([
      'run',
      '-d',
      '--name',
      'bt-export',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'echo made > /made-here; sleep 1000',
    ]);
    expect(run.code).toBe(0);
    await expect
      .poll(async () => (await t.docker(['exec', 'bt-export', 'ls', '/'])).stdout, { timeout: 5000 })
      .toContain('made-here');
    const names = (tarFile: string) =>
      execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const state of ['running', 'stopped']) {
      if (state === 'stopped') expect((await t.docker(['stop', '-t', '0', 'bt-export'])).code).toBe(0);
      // `docker cp ctr:/ DIR` lands the root's contents in DIR (the archive's names are /, /bin/, …).
      const copied = join(scratch, `root-${state}`);
      const cp = await t.docker(['cp', 'bt-export:/', copied]);
      expect(cp).toMatchObject({ code: 0, stderr: '' });
      expect(await readFile(join(copied, 'made-here'), 'utf8')).toBe('made\n');
      expect(existsSync(join(copied, 'bin', 'busybox'))).toBe(true);
      // export: one tar of the filesystem, names relative to the root.
      const exported = join(scratch, `export-${state}.tar`);
      const exp = await t.docker(['export', '-o', exported, 'bt-export']);
      expect(exp).toMatchObject({ code: 0, stderr: '' });
      const listed = names(exported);
      expect(listed).toEqual(expect.arrayContaining(['made-here', 'bin/', 'bin/busybox', 'etc/passwd']));
      expect(listed.filter((n) => n.startsWith('/') || n.startsWith('.') || n.startsWith('rootfs'))).toEqual(
        [],
      );
    }
    const missing = await t.docker(['export', '-o', join(scratch, 'nope.tar'), 'bt-export-nope']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No such container: bt-export-nope');
    expect((await t.docker(['rm', 'bt-export'])).code).toBe(0);
  });

  it('update: new limits reach a running container at once and a stopped one at its start; a new restart policy acts at the next exit', async () => {
    // The container's cgroup on either cgroup layout of a host.
    const limitOf = async (id: string, v1: string, v2: string) => {
      for (const path of [`/sys/fs/cgroup/${v1}`, `/sys/fs/cgroup/berth/${id}/${v2}`]) {
        const file = path.replace('{id}', id);
        if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
      }
      throw new Error(`no cgroup file for ${v1}`);
    };
    const pidsMax = (id: string) => limitOf(id, 'pids/berth/{id}/pids.max', 'pids.max');
    const run = await t.docker([
      'run',
      '-d',
      '--name',
      'bt-update',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    ]);
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    const update = await t.docker([
      'update',
      '--pids-limit',
      '40',
      '--cpus',
      '0.5',
      '--memory',
      '64m',
      'bt-update',
    ]);
    expect(update).toMatchObject({ code: 0, stdout: 'bt-update\n', stderr: '' });
    expect(await pidsMax(id)).toBe('40');
    expect(await limitOf(id, 'memory/berth/{id}/memory.limit_in_bytes', 'memory.max')).toBe(
      String(64 * 1024 * 1024),
    );
    expect(
      (
        await t.docker([
          'inspect',
          '-f',
          '{{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}',
          'bt-update',
        ])
      ).stdout,
    ).toBe(`40 500000000 ${64 * 1024 * 1024}\n`);
    expect((await t.docker(['stop', '-t', '0', 'bt-update'])).code).toBe(0);
    expect((await t.docker(['update', '--pids-limit', '30', 'bt-update'])).code).toBe(0);
    expect((await t.docker(['start', 'bt-update'])).code).toBe(0);
    expect(await pidsMax(id)).toBe('30');
    const refused = await t.docker(['update', '--cpu-quota', '1000', 'bt-update']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('CpuQuota cannot be updated by Berth');
    expect((await t.docker(['rm', '-f', 'bt-update'])).code).toBe(0);

    // Created without a policy, given on-failure:1 while it runs: it is restarted once after its failure.
    const failing = await t.docker([
      'run',
      '-d',
      '--name',
      'bt-update-fail',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'sleep 1; exit 3',
    ]);
    expect(failing.code).toBe(0);
    expect((await t.docker(['update', '--restart', 'on-failure:1', 'bt-update-fail'])).code).toBe(0);
    await expect
      .poll(
        async () =>
          (
            await t.docker(['inspect', '-f', '{{.RestartCount}} {{.State.Status}}', 'bt-update-fail'])
          ).stdout.trim(),
        {
          timeout: 15_000,
          interval: 250,
        },
      )
      .toBe('1 exited');
    expect((await t.docker(['rm', '-f', 'bt-update-fail'])).code).toBe(0);
  });

  it('commit makes an image of a container: its changes (deletions too) and its config, tagged, with the message in history', async () => {
    const run = await t.docker([
      'run',
      '-d',
      '--name',
      'bt-commit',
      '--network',
      'none',
      '-e',
      'BT_FROM=container',
      'busybox',
      'sh',
      '-c',
      'echo committed > /made; rm /bin/cat; mkdir -p /etc/bt && echo x > /etc/bt/conf; sleep 1000',
    ]);
    expect(run.code).toBe(0);
    await expect
      .poll(async () => (await t.docker(['exec', 'bt-commit', 'ls', '/etc/bt'])).stdout, { timeout: 5000 })
      .toContain('conf');
    const commit = await t.docker([
      'commit',
      '-m',
      'bt snapshot',
      '-a',
      'bt author',
      'bt-commit',
      'bt-committed:1',
    ]);
    expect(commit.stderr).toBe('');
    expect(commit.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    // Paused for the commit, running again after it.
    expect((await t.docker(['inspect', '-f', '{{.State.Status}}', 'bt-commit'])).stdout).toBe('running\n');
    const inside = await t.docker([
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      'sh',
      'bt-committed:1',
      '-c',
      'head -n1 /made; cat /etc/bt/conf; test -e /bin/cat && echo cat-still-there; echo $BT_FROM',
    ]);
    expect(inside).toMatchObject({ code: 0, stdout: 'committed\nx\ncontainer\n' });
    expect(
      (await t.docker(['inspect', '-f', '{{json .Config.Cmd}} {{.Author}} {{.Comment}}', 'bt-committed:1']))
        .stdout,
    ).toBe(
      '["sh","-c","echo committed \u003e /made; rm /bin/cat; mkdir -p /etc/bt \u0026\u0026 echo x \u003e /etc/bt/conf; sleep 1000"] bt author bt snapshot\n',
    );
    const history = await t.docker(['history', '--format', '{{.Comment}}|{{.ID}}', 'bt-committed:1']);
    expect(history.stdout.split('\n')[0]).toBe(`bt snapshot|${commit.stdout.trim().slice(7, 19)}`);
    const missing = await t.docker(['commit', 'bt-commit-nope']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No such container: bt-commit-nope');
    expect((await t.docker(['rm', '-f', 'bt-commit'])).code).toBe(0);
    expect((await t.docker(['rmi', 'bt-committed:1'])).code).toBe(0);
  });

  it('networks: create/ls/inspect/connect/disconnect/rm/prune, run --network, -p and port, DNS by name', async () => {
    const subnet = `10.${200 + (process.pid % 50)}.${Math.floor(Math.random() * 250)}.0/24`;
    const create = await t.docker(['network', 'create', '--subnet', subnet, '--label', 'bt=1', 'bt-apinet']);
    expect(create.code).toBe(0);
    expect(create.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(
      (await t.docker(['network', 'ls', '--filter', 'label=bt=1', '--format', '{{.Name}} {{.Driver}}']))
        .stdout,
    ).toBe('bt-apinet bridge\n');
    expect((await t.docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n')).toEqual(
      expect.arrayContaining(['bridge', 'host', 'none', 'bt-apinet']),
    );
    const web = await t.docker([
      'run',
      '-d',
      '--name',
      'bt-nweb',
      '--network',
      'bt-apinet',
      '--network-alias',
      'bt-www',
      '-p',
      '127.0.0.1::80',
      'busybox',
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/etc',
    ]);
    expect(web.code).toBe(0);
    const port = await t.docker(['port', 'bt-nweb', '80']);
    expect(port.stdout).toMatch(/^127\.0\.0\.1:\d+\n$/);
    const client = await t.docker([
      'run',
      '--rm',
      '--network',
      'bt-apinet',
      'busybox',
      'sh',
      '-c',
      "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 bt-www 80 | tail -1",
    ]);
    expect(client.stdout.trim()).toBe(web.stdout.trim().slice(0, 12));
    const inspect = JSON.parse((await t.docker(['network', 'inspect', 'bt-apinet'])).stdout)[0];
    expect(inspect.IPAM.Config[0].Subnet).toBe(subnet);
    expect(Object.values(inspect.Containers as Record<string, { Name: string }>).map((c) => c.Name)).toEqual([
      'bt-nweb',
    ]);
    const rmBusy = await t.docker(['network', 'rm', 'bt-apinet']);
    expect(rmBusy.code).not.toBe(0);
    expect(rmBusy.stderr).toContain('has active endpoints');
    const other = await t.docker(['run', '-d', '--name', 'bt-nother', 'busybox', 'sleep', '1000']);
    expect(other.code).toBe(0);
    expect(
      (await t.docker(['network', 'connect', '--alias', 'bt-late', 'bt-apinet', 'bt-nother'])).code,
    ).toBe(0);
    const webIp = (
      await t.docker([
        'inspect',
        '-f',
        '{{(index .NetworkSettings.Networks "bt-apinet").IPAddress}}',
        'bt-nweb',
      ])
    ).stdout.trim();
    const viaConnect = await t.docker([
      'exec',
      'bt-nother',
      'sh',
      '-c',
      `printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${webIp} 80 | tail -1`,
    ]);
    expect(viaConnect.stdout.trim()).toBe(web.stdout.trim().slice(0, 12));
    expect((await t.docker(['network', 'disconnect', 'bt-apinet', 'bt-nother'])).code).toBe(0);
    expect((await t.docker(['inspect', '-f', '{{len .NetworkSettings.Networks}}', 'bt-nother'])).stdout).toBe(
      '1\n',
    );
    expect((await t.docker(['rm', '-f', 'bt-nweb', 'bt-nother'])).code).toBe(0);
    expect((await t.docker(['network', 'rm', 'bt-apinet'])).code).toBe(0);
    await t.docker(['network', 'create', '--subnet', subnet, 'bt-apinet2']);
    expect((await t.docker(['network', 'prune', '-f'])).stdout).toContain('bt-apinet2');
  });

  it('system df and system prune, events with filters', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    expect(await t.docker(['run', '--name', 'bt-ev', 'busybox', 'true'])).toMatchObject({
      code: 0,
      stderr: '',
    });
    const until = Math.ceil(Date.now() / 1000);
    const events = await t.docker([
      'events',
      '--since',
      String(since),
      '--until',
      String(until),
      '--filter',
      'type=container',
      '--filter',
      'event=die',
      '--filter',
      'container=bt-ev',
      '--format',
      '{{.Actor.Attributes.name}} {{.Status}}',
    ]);
    expect(events.stdout).toBe('bt-ev die\n');
    const df = await t.docker(['system', 'df', '--format', '{{.Type}} {{.TotalCount}}']);
    expect(df.stderr).toBe('');
    expect(df.code).toBe(0);
    expect(df.stdout).toMatch(/^Images \d+\nContainers \d+\nLocal Volumes \d+\nBuild Cache 0\n$/);
    const prune = await t.docker(['system', 'prune', '-f']);
    expect(prune.code).toBe(0);
    expect((await t.docker(['ps', '-a', '--filter', 'name=bt-ev', '-q'])).stdout).toBe('');
  });

  it('restart policy on-failure shows in inspect and ps', async () => {
    const r = await t.docker([
      'run',
      '-d',
      '--name',
      'bt-rp',
      '--restart',
      'on-failure:2',
      'busybox',
      'sh',
      '-c',
      'exit 1',
    ]);
    expect(r.code).toBe(0);
    await expect
      .poll(
        async () =>
          (await t.docker(['inspect', '-f', '{{.RestartCount}} {{.State.Status}}', 'bt-rp'])).stdout,
        { timeout: 10_000 },
      )
      .toBe('2 exited\n');
    expect((await t.docker(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}', 'bt-rp'])).stdout).toBe(
      'on-failure\n',
    );
    expect((await t.docker(['rm', 'bt-rp'])).code).toBe(0);
  });

  it('errors read like dockerd: unknown container, bad name, running start', async () => {
    const missing = await t.docker(['start', 'bt-nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No such container: bt-nope');
    const badName = await t.docker(['create', '--name', 'bad name!', 'busybox', 'true']);
    expect(badName.code).not.toBe(0);
    expect(badName.stderr).toContain('Invalid container name');
    const noImage = await t.docker(['run', '--pull', 'never', 'bt-none:1', 'true']);
    expect(noImage.code).toBe(125);
    expect(noImage.stderr).toMatch(/No such image: bt-none:1/);
  });

  it('info counts containers; container prune removes stopped ones', async () => {
    const counts = async () =>
      (await t.docker(['info', '--format', '{{.Containers}} {{.ContainersStopped}}'])).stdout
        .trim()
        .split(' ')
        .map(Number);
    const [before = 0, stoppedBefore = 0] = await counts();
    await t.docker(['run', '--name', 'bt-p1', 'busybox', 'true']);
    expect(await counts()).toEqual([before + 1, stoppedBefore + 1]);
    const prune = await t.docker(['container', 'prune', '-f']);
    expect(prune.code).toBe(0);
    expect((await t.docker(['ps', '-aq', '--filter', 'status=exited'])).stdout).toBe('');
  });

  it('stats: the CLI shows CPU, memory against the limit, pids and network; the API streams a sample a second', async () => {
    const started = await t.docker([
      'run',
      '-d',
      '--name',
      'bt-stats',
      '--memory',
      '64m',
      '--pids-limit',
      '20',
      'busybox',
      'sh',
      '-c',
      'while :; do :; done',
    ]);
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    try {
      const cli = await t.docker(['stats', '--no-stream', '--format', '{{json .}}', 'bt-stats']);
      expect(cli.code).toBe(0);
      const row = JSON.parse(cli.stdout) as Record<string, string>;
      expect(row.Name).toBe('bt-stats');
      // A shell spinning on one core of two.
      expect(Number.parseFloat(row.CPUPerc ?? '')).toBeGreaterThan(20);
      expect(row.MemUsage).toMatch(/ \/ 64MiB$/);
      expect(row.PIDs).toBe('1');
      expect(row.NetIO).toMatch(/^\d+(\.\d+)?k?B \/ \d+(\.\d+)?k?B$/);

      const lines = await new Promise<string[]>((resolve, reject) => {
        const got: string[] = [];
        let buffered = '';
        const req = request({ socketPath: t.socket, path: `/v1.41/containers/${id}/stats` }, (res) => {
          res.setEncoding('utf8').on('data', (chunk: string) => {
            buffered += chunk;
            for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
              got.push(buffered.slice(0, at));
              buffered = buffered.slice(at + 1);
            }
            if (got.length >= 2) {
              req.destroy();
              resolve(got);
            }
          });
        });
        req.on('error', (error) => (got.length >= 2 ? undefined : reject(error)));
        req.end();
      });
      const [first, second] = lines.map((line) => JSON.parse(line) as ContainerStats) as [
        ContainerStats,
        ContainerStats,
      ];
      expect(second.precpu_stats.cpu_usage.total_usage).toBe(first.cpu_stats.cpu_usage.total_usage);
      expect(second.cpu_stats.cpu_usage.total_usage).toBeGreaterThan(first.cpu_stats.cpu_usage.total_usage);
      expect(Date.parse(second.read) - Date.parse(second.preread)).toBeGreaterThanOrEqual(900);
      expect(second.pids_stats).toEqual({ current: 1, limit: 20 });
      expect(second.memory_stats.limit).toBe(64 * 1024 * 1024);

      await t.docker(['stop', '-t', '0', 'bt-stats']);
      const stopped = JSON.parse(
        (await t.raw('GET', `/v1.41/containers/${id}/stats?stream=false&one-shot=true`)).body,
      );
      expect(stopped).toMatchObject({ read: '0001-01-01T00:00:00Z', memory_stats: {}, pids_stats: {} });
      expect((await t.raw('GET', '/v1.41/containers/bt-no-such/stats?stream=false')).status).toBe(404);
    } finally {
      await t.docker(['rm', '-f', 'bt-stats']);
    }
  });
});

/** A raw hijacked API connection (attach or exec start), as the docker CLI opens one. */
async function hijackedSession(
  socketPath: string,
  path: string,
  body = '',
): Promise<{ write(text: string): void; output(): string; ended: Promise<void> }> {
  const { createConnection } = await import('node:net');
  const session = createConnection(socketPath);
  let output = '';
  const ended = new Promise<void>((resolve, reject) => {
    session.on('data', (c: Buffer) => {
      output += c.toString();
    });
    session.on('end', () => resolve());
    session.on('error', reject);
  });
  await new Promise<void>((resolve) => session.once('connect', () => resolve()));
  session.write(
    `POST ${path} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  await vi.waitFor(() => expect(output).toMatch(/101 UPGRADED/), { timeout: 5000 });
  return { write: (text) => session.write(text), output: () => output, ended };
}
