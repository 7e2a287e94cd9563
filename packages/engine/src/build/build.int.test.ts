// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile variable syntax under test
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import { EngineError } from '../errors';
import { loadBusybox, pushBusybox, tarBytes } from '../testing/images';
import { testNetworkOptions } from '../testing/network';
import { startRegistry } from '../testing/registry';
import type { BuildOptions, BuildProgress } from './builder';

async function output(engine: Engine, image: string, cmd?: string[]): Promise<{ code: number; out: string }> {
  const { Id } = await engine.containers.create({ Image: image, ...(cmd ? { Cmd: cmd } : {}) });
  try {
    await engine.containers.start(Id);
    const { StatusCode } = await engine.containers.wait(Id);
    let out = '';
    for await (const entry of engine.containers.logs(Id, { stdout: true, stderr: true, follow: false }))
      out += entry.data.toString();
    return { code: StatusCode, out };
  } finally {
    await engine.containers.remove(Id, { force: true, volumes: true });
  }
}

async function layerEntries(engine: Engine, digest: string): Promise<string[]> {
  const list = execFileSync('tar', ['-tvf', engine.images.content.blobPath(digest)], { encoding: 'utf8' });
  return list.split('\n').filter(Boolean);
}

describe('docker build on the engine', () => {
  let root: string;
  let engine: Engine;
  let ctx: string;

  const build = async (files: Record<string, string>, options: Partial<BuildOptions> = {}) => {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(join(ctx, name, '..'), { recursive: true });
      await writeFile(join(ctx, name), content);
    }
    const progress: BuildProgress[] = [];
    const result = await engine.builder.build({
      context: ctx,
      onProgress: (p) => progress.push(p),
      ...options,
    });
    const text = progress.map((p) => p.stream ?? '').join('');
    return { ...result, text, progress };
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-build-'));
    engine = await Engine.open({ dataRoot: join(root, 'data'), ...testNetworkOptions() });
    await loadBusybox(engine);
  });
  beforeEach(async () => {
    if (ctx) await rm(ctx, { recursive: true, force: true });
    ctx = await mkdtemp(join(root, 'ctx-'));
  });
  afterAll(async () => {
    for (const c of engine?.containers.list({ all: true }) ?? [])
      await engine.containers.remove(c.Id, { force: true, volumes: true }).catch(() => {});
    await engine?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('builds every instruction into an image Berth runs, with Docker-shaped config and history', async () => {
    await mkdir(join(ctx, 'dir/sub'), { recursive: true });
    await writeFile(join(ctx, 'dir/sub/b.txt'), 'bee\n');
    await writeFile(join(ctx, 'a.sh'), '#!/bin/sh\necho script\n', { mode: 0o755 });
    await utimes(join(ctx, 'a.sh'), new Date('2020-02-02T00:00:00Z'), new Date('2020-02-02T00:00:00Z'));
    const dockerfile = [
      '# escape=\\',
      'ARG BASE=busybox',
      'FROM ${BASE} AS base',
      'ARG GREETING=hello',
      'ENV APP_HOME=/app \\',
      '    MODE="two words"',
      'WORKDIR $APP_HOME',
      'COPY a.sh ./bin/',
      'COPY --chown=app:app --chmod=750 dir/ data/',
      'COPY <<EOF inline.txt',
      'home is $APP_HOME',
      'EOF',
      'RUN echo "$GREETING from $(pwd)" > greeting && id -u > who',
      'RUN <<EOF',
      'echo heredoc-run > heredoc',
      'EOF',
      'LABEL org.example.name="berth test" version=1',
      'EXPOSE 8080 53/udp 9000-9001',
      'VOLUME ["/data"]',
      'STOPSIGNAL SIGTERM',
      'HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD cat /app/greeting',
      'ONBUILD RUN echo triggered > /tmp/triggered',
      'SHELL ["/bin/sh", "-c"]',
      'USER app',
      'ENTRYPOINT ["/bin/sh", "-c"]',
      'CMD ["cat greeting who heredoc inline.txt data/sub/b.txt; ls -ln data/sub/b.txt; ./bin/a.sh"]',
    ].join('\n');
    const { id, text, progress } = await build(
      { Dockerfile: dockerfile },
      { tags: ['bt-build/all:1', 'bt-build/all:latest'] },
    );
    expect(text).toMatch(/^Step 1\/20 : ARG BASE=busybox\n/);
    expect(text).toContain('Step 2/20 : FROM ${BASE} AS base');
    expect(text).toContain(' ---> Running in ');
    expect(text).toContain(`Successfully built ${id.slice(7, 19)}`);
    expect(text).toContain('Successfully tagged bt-build/all:1');
    expect(progress.some((p) => p.aux?.ID === id)).toBe(true);

    const inspect = await engine.images.inspect('bt-build/all:1');
    expect(inspect.Id).toBe(id);
    expect(inspect.RepoTags.sort()).toEqual(['bt-build/all:1', 'bt-build/all:latest']);
    const c = inspect.Config;
    expect(c.Env).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'APP_HOME=/app',
      'MODE=two words',
    ]);
    expect(c.WorkingDir).toBe('/app');
    expect(c.User).toBe('app');
    expect(c.Labels).toEqual({ 'org.example.name': 'berth test', version: '1' });
    expect(Object.keys(c.ExposedPorts ?? {}).sort()).toEqual(['53/udp', '8080/tcp', '9000/tcp', '9001/tcp']);
    expect(c.Volumes).toEqual({ '/data': {} });
    expect(c.StopSignal).toBe('SIGTERM');
    expect(c.Healthcheck).toEqual({
      Test: ['CMD-SHELL', 'cat /app/greeting'],
      Interval: 5e9,
      Timeout: 2e9,
      Retries: 4,
    });
    expect(c.OnBuild).toEqual(['RUN echo triggered > /tmp/triggered']);
    expect(c.Shell).toEqual(['/bin/sh', '-c']);
    expect(c.Entrypoint).toEqual(['/bin/sh', '-c']);
    expect(c.Cmd).toEqual([
      'cat greeting who heredoc inline.txt data/sub/b.txt; ls -ln data/sub/b.txt; ./bin/a.sh',
    ]);

    const config = JSON.parse((await engine.images.content.readBytes(id)).toString());
    const history = config.history as { created_by: string; empty_layer?: boolean }[];
    const ours = history.slice(1); // the busybox fixture's own entry first
    expect(ours.filter((h) => !h.empty_layer)).toHaveLength(config.rootfs.diff_ids.length - 1);
    expect(ours.map((h) => h.created_by)).toContain(
      '|1 GREETING=hello /bin/sh -c echo "$GREETING from $(pwd)" > greeting && id -u > who',
    );
    expect(ours.find((h) => h.created_by.includes('ENV'))?.created_by).toBe(
      '/bin/sh -c #(nop)  ENV APP_HOME=/app MODE=two words',
    );

    const run = await output(engine, 'bt-build/all:1');
    expect(run.code).toBe(0);
    const lines = run.out.split('\n');
    expect(lines.slice(0, 5)).toEqual(['hello from /app', '0', 'heredoc-run', 'home is /app', 'bee']);
    expect(lines[5]).toMatch(/^-rwxr-x---\s+1 1000\s+1000\s+4 /);
    expect(lines[6]).toBe('script');

    // a COPY keeps the source's mtime, as Docker does
    const stat = await output(engine, 'bt-build/all:1', ['stat -c %Y bin/a.sh']);
    expect(stat.out.trim()).toBe(String(Date.parse('2020-02-02T00:00:00Z') / 1000));

    // ONBUILD triggers run in a child build
    const child = await build(
      { Dockerfile: 'FROM bt-build/all:1\nUSER root\nRUN cat /tmp/triggered' },
      { tags: ['bt-build/child'] },
    );
    expect(child.text).toMatch(/Running in [0-9a-f]{12}\ntriggered\n/);
    const childConfig = await engine.images.inspect('bt-build/child');
    expect(childConfig.Config.OnBuild ?? null).toBeNull();
  });

  it('reuses the cache across builds and misses from a changed copied file on', async () => {
    const files = {
      Dockerfile:
        'FROM busybox\nRUN echo one > /one\nCOPY f.txt /f.txt\nRUN cat /f.txt > /copy\nCMD ["cat", "/copy"]\n',
      'f.txt': 'first\n',
    };
    const cold = await build(files, { tags: ['bt-build/cache'] });
    expect(cold.text).not.toContain('Using cache');
    const warm = await build({}, { tags: ['bt-build/cache'] });
    expect(warm.text.match(/Using cache/g)).toHaveLength(4);
    expect(warm.id).toBe(cold.id);
    // touching a file changes no content: still a hit, as Docker's checksums leave mtimes out
    await utimes(join(ctx, 'f.txt'), new Date(), new Date('2021-01-01'));
    expect((await build({})).id).toBe(cold.id);
    await writeFile(join(ctx, 'f.txt'), 'second\n');
    const changed = await build({}, { tags: ['bt-build/cache'] });
    expect(changed.text.match(/Using cache/g)).toHaveLength(1); // the first RUN only
    expect((await output(engine, 'bt-build/cache')).out).toBe('second\n');
    const noCache = await build({}, { noCache: true });
    expect(noCache.text).not.toContain('Using cache');
    // prune forgets the cache: the next build runs every step again
    const pruned = await engine.builder.prune();
    expect(pruned.CachesDeleted.length).toBeGreaterThan(0);
    const after = await build({});
    expect(after.text).not.toContain('Using cache');
  });

  it('makes the same COPY and WORKDIR layers from the same sources on every build', async () => {
    const files = {
      Dockerfile: 'FROM busybox\nWORKDIR /app/work\nCOPY f.txt tree/ sub/dir/\nCOPY f.txt /etc/\n',
      'f.txt': 'same\n',
      'tree/a/b.txt': 'deep\n',
    };
    const first = await build(files);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // any time taken from the clock would differ
    const second = await build({}, { noCache: true });
    expect(second.text).not.toContain('Using cache');
    const layers = async (id: string) => (await engine.images.inspect(id)).RootFS.Layers;
    expect(await layers(second.id)).toEqual(await layers(first.id));
    expect(await layers(first.id)).toHaveLength(4);
  });

  it('leaves out .dockerignore matches and refuses to copy them by name', async () => {
    const files = {
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\nCMD ["find", "/ctx", "-type", "f"]\n',
      '.dockerignore': '*.log\n!keep.log\nsecret/\n**/cache\n',
      'a.log': 'x',
      'keep.log': 'x',
      'secret/key': 'x',
      'src/main.txt': 'x',
      'src/cache/blob': 'x',
    };
    await build(files, { tags: ['bt-build/ignore'] });
    const found = (await output(engine, 'bt-build/ignore')).out.split('\n').filter(Boolean).sort();
    expect(found).toEqual(['/ctx/.dockerignore', '/ctx/Dockerfile', '/ctx/keep.log', '/ctx/src/main.txt']);
    await expect(build({ Dockerfile: 'FROM busybox\nCOPY secret/key /k\n' })).rejects.toThrow(
      /file not found in build context or excluded by .dockerignore: stat secret\/key/,
    );
  });

  it('passes build args to ARG, RUN and substitutions, and warns about unused ones', async () => {
    const files = {
      Dockerfile:
        'ARG TAG=latest\nFROM busybox:${TAG}\nARG TAG\nARG WHO=nobody\nENV WHO_ENV=${WHO:-x}-${TAG:+set}\nRUN echo "$WHO $TAG $WHO_ENV" > /out\nCMD ["cat", "/out"]\n',
    };
    const { text } = await build(files, {
      tags: ['bt-build/args'],
      buildArgs: { WHO: 'alice', UNUSED: '1' },
    });
    expect(text).toContain('[Warning] One or more build-args [UNUSED] were not consumed');
    expect((await output(engine, 'bt-build/args')).out).toBe('alice latest alice-set\n');
  });

  it('stops at a failing RUN with its output and exit code, and tags nothing', async () => {
    const progress: BuildProgress[] = [];
    await writeFile(
      join(ctx, 'Dockerfile'),
      'FROM busybox\nRUN echo about to fail; exit 7\nRUN echo never\n',
    );
    const error = await engine.builder
      .build({ context: ctx, tags: ['bt-build/failed'], onProgress: (p) => progress.push(p) })
      .catch((e: unknown) => e);
    expect(EngineError.is(error, 'failed')).toBe(true);
    expect((error as Error).message).toBe(
      "The command '/bin/sh -c echo about to fail; exit 7' returned a non-zero code: 7",
    );
    const text = progress.map((p) => p.stream ?? '').join('');
    expect(text).toContain('about to fail');
    expect(text).not.toContain('never');
    await expect(engine.images.inspect('bt-build/failed')).rejects.toThrow(/No such image/);
    expect(engine.containers.list({ all: true })).toHaveLength(0);
  });

  it('turns a deleted lower file into a whiteout and a replaced directory into an opaque one', async () => {
    const files = {
      Dockerfile: [
        'FROM busybox',
        'RUN mkdir -p /data/opq && echo a > /data/a && echo b > /data/b && echo o > /data/opq/old',
        'RUN rm /data/a && rm -r /data/opq && mkdir /data/opq && echo n > /data/opq/new',
        'CMD ["sh", "-c", "ls /data /data/opq"]',
      ].join('\n'),
    };
    const { id } = await build(files, { tags: ['bt-build/wh'] });
    const inspect = await engine.images.inspect(id);
    const manifestLayers = inspect.RootFS.Layers;
    const top = manifestLayers[manifestLayers.length - 1] as string;
    const entries = await layerEntries(engine, top); // built layers are stored uncompressed: diffID = digest
    expect(entries.some((e) => e.endsWith(' data/.wh.a'))).toBe(true);
    expect(entries.some((e) => e.endsWith(' data/opq/.wh..wh..opq'))).toBe(true);
    expect(entries.some((e) => e.endsWith(' data/opq/new'))).toBe(true);
    expect((await output(engine, 'bt-build/wh')).out).toBe('/data:\nb\nopq\n\n/data/opq:\nnew\n');
  });

  it('builds multi-stage with COPY --from, a target, and ADD of a local tar', async () => {
    const archive = await tarBytes([
      { path: 'pkg/', type: 'directory' },
      { path: 'pkg/readme', content: 'from the tar\n' },
    ]);
    await writeFile(join(ctx, 'pkg.tar'), archive);
    const files = {
      Dockerfile: [
        'FROM busybox AS builder',
        'RUN mkdir /out && echo built > /out/artifact',
        'ADD pkg.tar /opt/',
        'FROM scratch AS final',
        'COPY --from=builder /bin/busybox /bin/sh',
        'COPY --from=builder /out/ /srv/',
        'COPY --from=0 /opt/pkg/readme /srv/readme',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["read l < /srv/artifact; echo $l; read r < /srv/readme; echo $r"]',
        'FROM final AS extra',
        'RUN false',
      ].join('\n'),
    };
    const { id, text } = await build(files, { tags: ['bt-build/multi'], target: 'final' });
    expect(text).toContain('Step 9/9 :');
    expect(text).not.toContain('RUN false');
    expect((await output(engine, 'bt-build/multi')).out).toBe('built\nfrom the tar\n');
    const inspect = await engine.images.inspect(id);
    expect(inspect.RootFS.Layers).toHaveLength(3);
    // the builder stage is kept as an untagged image, and a rebuild hits the cache in both stages
    expect(engine.images.list({ dangling: true }).length).toBeGreaterThan(0);
    const again = await build({}, { tags: ['bt-build/multi'], target: 'final' });
    expect(again.id).toBe(id);
    expect(again.text.match(/Using cache/g)).toHaveLength(7);
  });

  it('pulls a missing FROM image (again with pull), and ADD fetches a URL', async () => {
    await using registry = await startRegistry();
    const base = await pushBusybox(registry, 'bt-build/base:1');
    const files = {
      Dockerfile: `FROM ${base}\nADD http://${registry.host}/v2/_catalog /fetched/catalog.json\nCMD ["cat", "/fetched/catalog.json"]\n`,
    };
    const pulled = (r: { progress: BuildProgress[] }) =>
      r.progress.some((p) => p.status?.startsWith('Pulling from'));
    const first = await build(files, { tags: ['bt-build/pulled'] });
    expect(pulled(first)).toBe(true);
    expect(JSON.parse((await output(engine, 'bt-build/pulled')).out)).toEqual({
      repositories: ['bt-build/base'],
    });
    const local = await build({});
    expect(pulled(local)).toBe(false);
    const again = await build({}, { pull: true });
    expect(pulled(again)).toBe(true);
    expect(again.text.match(/Using cache/g)).toHaveLength(2); // the download has the same content
    const mode = await output(engine, 'bt-build/pulled', ['stat', '-c', '%a', '/fetched/catalog.json']);
    expect(mode.out).toBe('600\n');
    await expect(
      build({ Dockerfile: `FROM ${base}\nCOPY http://${registry.host}/v2/ /x\n` }),
    ).rejects.toThrow(/source can't be a URL for COPY/);
  });

  it('refuses bad input with clear errors', async () => {
    const fails = async (dockerfile: string, pattern: RegExp, options: Partial<BuildOptions> = {}) => {
      await writeFile(join(ctx, 'Dockerfile'), dockerfile);
      const error = await engine.builder.build({ context: ctx, ...options }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EngineError);
      expect((error as Error).message).toMatch(pattern);
    };
    await fails('FROM busybox\nFROBNICATE now\n', /line 2: unknown instruction: FROBNICATE/);
    await fails('FROM busybox\nCOPY missing.txt /x\n', /file not found in build context/);
    await fails('FROM busybox\nCOPY ../../etc/passwd /x\n', /forbidden path outside the build context/);
    // a symlink in the context is followed inside the context only: /etc/passwd there does not exist
    await symlink('/etc/passwd', join(ctx, 'escape'));
    await fails('FROM busybox\nCOPY escape /x\n', /file not found in build context/);
    await fails(
      'FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /x /y\n',
      /circular dependency detected on stage: b/,
    );
    await fails('FROM busybox AS a\nCOPY --from=a /x /x\n', /circular dependency detected on stage: a/);
    await fails('FROM busybox\n', /failed to reach build target nope/, { target: 'nope' });
    await fails('RUN true\n', /no build stage in current context/);
    await fails('FROM busybox\nCOPY --bogus=1 a b\n', /unknown flag: --bogus/);
  });
});
