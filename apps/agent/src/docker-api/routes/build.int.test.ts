import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { loadBusybox, tarBytes } from '@berth/engine/testing/images';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, dockerCli, startTestAgent, type TestAgent } from '../testing';

/** The stock CLI with the classic builder (BuildKit needs a session protocol Berth does not serve). */
function dockerBuild(t: TestAgent, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      dockerCli,
      ['-H', t.host, ...args],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          DOCKER_CONFIG: t.configDir,
          HOME: t.configDir,
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

describe('docker api: docker build through the socket', () => {
  let t: TestAgent;
  let ctx: string;
  beforeAll(async () => {
    t = await startTestAgent();
    await loadBusybox(t.agent.engine);
    ctx = await mkdtemp(join(t.root, 'ctx-'));
    await mkdir(join(ctx, 'src'));
    await writeFile(join(ctx, 'src/hello.txt'), 'hello from the context\n');
    await writeFile(join(ctx, 'ignored.txt'), 'no\n');
    await writeFile(join(ctx, '.dockerignore'), 'ignored.txt\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      'FROM busybox\nARG WHO\nCOPY src/ /app/\nRUN echo "built by $WHO" >> /app/hello.txt\nWORKDIR /app\nCMD ["cat", "hello.txt"]\n',
    );
  });
  afterAll(async () => {
    await t?.[Symbol.asyncDispose]();
  });

  it('builds with the classic progress output, tags, and the image runs', async () => {
    const built = await dockerBuild(t, [
      'build',
      '-t',
      'bt-api/built:1',
      '-t',
      'bt-api/built:2',
      '--build-arg',
      'WHO=cli',
      ctx,
    ]);
    expect(built.stderr, built.stdout).not.toMatch(/error/i);
    expect(built.code).toBe(0);
    expect(built.stdout).toMatch(/^Sending build context to Docker daemon\s+\S+/m);
    expect(built.stdout).toContain('Step 1/6 : FROM busybox');
    expect(built.stdout).toContain('Step 4/6 : RUN echo "built by $WHO" >> /app/hello.txt');
    expect(built.stdout).toMatch(/ ---> Running in [0-9a-f]{12}/);
    expect(built.stdout).toMatch(/Successfully built [0-9a-f]{12}/);
    expect(built.stdout).toContain('Successfully tagged bt-api/built:1');
    expect(built.stdout).toContain('Successfully tagged bt-api/built:2');
    const run = await t.docker(['run', '--rm', 'bt-api/built:2']);
    expect(run.stdout).toBe('hello from the context\nbuilt by cli\n');
    const ls = await t.docker(['run', '--rm', 'bt-api/built:1', 'ls', '/app']);
    expect(ls.stdout).toBe('hello.txt\n');
    // The CLI sends User "" when -u is not given: the image's USER applies, as with dockerd.
    const userDir = await mkdtemp(join(t.root, 'user-'));
    await writeFile(join(userDir, 'Dockerfile'), 'FROM busybox\nUSER app\nCMD ["id", "-un"]\n');
    expect((await dockerBuild(t, ['build', '-q', '-t', 'bt-api/user:1', userDir])).code).toBe(0);
    expect((await t.docker(['run', '--rm', 'bt-api/user:1'])).stdout).toBe('app\n');
    expect((await t.docker(['run', '--rm', '-u', 'root', 'bt-api/user:1'])).stdout).toBe('root\n');

    // -f outside the context (the CLI ships it inside the tar), --target and --label
    const elsewhere = join(t.root, 'Dockerfile.other');
    await writeFile(elsewhere, 'FROM busybox AS one\nRUN echo one > /one\nFROM one AS two\nRUN false\n');
    const targeted = await dockerBuild(t, [
      'build',
      '-f',
      elsewhere,
      '--target',
      'one',
      '--label',
      'bt.label=yes',
      '-t',
      'bt-api/target',
      ctx,
    ]);
    expect(targeted.code, targeted.stderr).toBe(0);
    expect(targeted.stdout).not.toContain('RUN false');
    const labels = await t.docker([
      'image',
      'inspect',
      '--format',
      '{{json .Config.Labels}}',
      'bt-api/target',
    ]);
    expect(labels.stdout.trim()).toBe('{"bt.label":"yes"}');

    const again = await dockerBuild(t, [
      'build',
      '-q',
      '-t',
      'bt-api/built:1',
      '--build-arg',
      'WHO=cli',
      ctx,
    ]);
    expect(again.code).toBe(0);
    const id = (await t.docker(['image', 'inspect', '--format', '{{.Id}}', 'bt-api/built:1'])).stdout.trim();
    expect(again.stdout.trim()).toBe(id);
  });

  it('a hostile context cannot write outside its directory', async () => {
    const outside = await mkdtemp(join(t.root, 'outside-'));
    const body = await tarBytes([
      { path: 'Dockerfile', content: 'FROM busybox\nCOPY . /ctx/\n' },
      { path: 'evil', type: 'symlink', linkname: outside },
      { path: 'evil/pwned', content: 'x' },
      { path: '../escaped', content: 'x' },
    ]);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          socketPath: t.socket,
          method: 'POST',
          path: '/v1.41/build?t=bt-api/hostile',
          headers: { 'Content-Type': 'application/x-tar' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBeGreaterThan(0);
    expect(await readdir(outside)).toEqual([]);
    expect(await readdir(join(t.root, 'data', 'build'))).not.toContain('escaped');
    await rm(outside, { recursive: true, force: true });
  });

  it('a failing RUN shows its output and the CLI exits non-zero; builder prune answers', async () => {
    const failing = await mkdtemp(join(t.root, 'ctx-'));
    try {
      await writeFile(join(failing, 'Dockerfile'), 'FROM busybox\nRUN echo going down && exit 3\n');
      const r = await dockerBuild(t, ['build', '-t', 'bt-api/failed', failing]);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toContain('going down');
      expect(r.stderr).toContain(
        "The command '/bin/sh -c echo going down && exit 3' returned a non-zero code: 3",
      );
      const inspect = await t.docker(['image', 'inspect', 'bt-api/failed']);
      expect(inspect.code).not.toBe(0);
      await writeFile(join(failing, 'Dockerfile'), 'FROM busybox\nFROBNICATE\n');
      const bad = await dockerBuild(t, ['build', failing]);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain('unknown instruction: FROBNICATE');
    } finally {
      await rm(failing, { recursive: true, force: true });
    }
    const prune = await t.docker(['builder', 'prune', '-f']);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toMatch(/Total reclaimed space/);
  });

  it('system df lists the build cache; builder prune empties it and the next build misses', async () => {
    const dir = await mkdtemp(join(t.root, 'ctx-'));
    try {
      await writeFile(
        join(dir, 'Dockerfile'),
        'FROM busybox\nRUN head -c 4096 /dev/zero > /cached\nENV BT=df\n',
      );
      expect((await dockerBuild(t, ['build', '-q', '-t', 'bt-api/df', dir])).code).toBe(0);
      // Built, then used once more from the cache.
      expect((await dockerBuild(t, ['build', '-q', '-t', 'bt-api/df', dir])).code).toBe(0);
      const df = await t.docker(['system', 'df', '--format', '{{.Type}} {{.TotalCount}}']);
      expect(df.code, df.stderr).toBe(0);
      const count = Number(/^Build Cache (\d+)$/m.exec(df.stdout)?.[1]);
      expect(count).toBeGreaterThanOrEqual(2);
      const verbose = await t.docker(['system', 'df', '-v']);
      expect(verbose.stdout).toMatch(/Build cache usage: \S+/);
      expect(verbose.stdout).toMatch(/^[0-9a-f]{12}\s+regular\s+4\.1kB .* true$/m);
      const api = await new Promise<string>((resolve, reject) => {
        const req = request({ socketPath: t.socket, path: '/v1.41/system/df' }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => {
            body += d;
          });
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.end();
      });
      const entries = (
        JSON.parse(api) as { BuildCache: Array<{ Description: string; Shared: boolean; UsageCount: number }> }
      ).BuildCache;
      expect(entries.find((e) => e.Description.includes('head -c 4096 /dev/zero > /cached'))).toMatchObject({
        Shared: true,
        UsageCount: 2,
      });

      const prune = await t.docker(['builder', 'prune', '-f']);
      expect(prune.code, prune.stderr).toBe(0);
      expect(prune.stdout).toContain('Deleted build cache objects:');
      expect((await t.docker(['system', 'df', '--format', '{{.Type}} {{.TotalCount}}'])).stdout).toMatch(
        /^Build Cache 0$/m,
      );
      const rebuilt = await dockerBuild(t, ['build', '-t', 'bt-api/df', dir]);
      expect(rebuilt.code).toBe(0);
      expect(rebuilt.stdout).not.toContain('Using cache');
      expect((await t.docker(['run', '--rm', 'bt-api/df', 'wc', '-c', '/cached'])).stdout.trim()).toBe(
        '4096 /cached',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
