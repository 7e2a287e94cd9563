/**
 * Build benchmark: a 6-step Dockerfile (FROM, WORKDIR, COPY of 50 MB in 200 files, two RUNs reading them,
 * CMD) built with the stock docker CLI's classic builder (DOCKER_BUILDKIT=0) through Berth's agent socket and
 * through the reference dockerd 20.10, in one run. Both sides get the same context tar from the CLI, the base
 * image from the same loopback registry (pulled once before timing), and RUN on `--network none` (the
 * reference runs without its bridge). Cold = `--no-cache`; cached = the same build again, every step a hit.
 * Prints medians and the ratios Berth/dockerd.
 *
 *   npx tsx bench/build/run.ts [--rounds 5] [--mb 50] [--files 200] [--only berth,dockerd]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startReferenceDockerd } from '@berth/agent/docker-api/reference';
import { dockerCli, startTestAgent } from '@berth/agent/docker-api/testing';
import { pushBusybox } from '@berth/engine/testing/images';
import { startRegistry } from '@berth/engine/testing/registry';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    mb: { type: 'string', default: '50' },
    files: { type: 'string', default: '200' },
    only: { type: 'string', default: 'berth,dockerd' },
  },
});
const rounds = Number(values.rounds);
const totalBytes = Number(values.mb) * 1024 * 1024;
const fileCount = Number(values.files);
const only = new Set(values.only.split(','));

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function docker(host: string, configDir: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
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
        maxBuffer: 64 * 1024 * 1024,
        timeout: 600_000,
      },
      (error, stdout, stderr) =>
        error ? reject(new Error(`docker ${args[0]}: ${stderr || error.message}`)) : resolve(stdout),
    );
  });
}

async function makeContext(dir: string, base: string): Promise<void> {
  const perFile = Math.floor(totalBytes / fileCount);
  for (let i = 0; i < fileCount; i++) {
    const sub = join(dir, 'data', `d${i % 10}`);
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `f${i}.bin`), randomBytes(perFile));
  }
  await writeFile(
    join(dir, 'Dockerfile'),
    [
      `FROM ${base}`,
      'WORKDIR /app',
      'COPY data/ ./data/',
      'RUN find data -type f | wc -l > count',
      'RUN cat data/*/* | wc -c > size',
      'CMD ["cat", "count", "size"]',
    ].join('\n'),
  );
}

async function measure(
  name: string,
  host: string,
  configDir: string,
  context: string,
): Promise<{ cold: number[]; cached: number[] }> {
  const build = async (extra: string[]) => {
    const start = performance.now();
    const out = await docker(host, configDir, [
      'build',
      '--network',
      'none',
      '-t',
      'bt-bench/build:1',
      ...extra,
      context,
    ]);
    const ms = performance.now() - start;
    if (!out.includes('Successfully built')) throw new Error(`${name}: build did not finish:\n${out}`);
    return { ms, out };
  };
  await build(['--no-cache']); // warm-up: base image pulled, page cache filled
  const cold: number[] = [];
  const cached: number[] = [];
  for (let i = 0; i < rounds; i++) {
    cold.push((await build(['--no-cache'])).ms);
    const again = await build([]);
    if ((again.out.match(/Using cache/g) ?? []).length !== 5)
      throw new Error(`${name}: the cached build missed the cache:\n${again.out}`);
    cached.push(again.ms);
    console.info(
      `${name.padEnd(7)} round ${i + 1}: cold ${cold.at(-1)?.toFixed(0)} ms, cached ${cached.at(-1)?.toFixed(0)} ms`,
    );
  }
  return { cold, cached };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bt-build-bench-'));
  await using registry = await startRegistry();
  try {
    const base = await pushBusybox(registry, 'bt-bench/busybox:1');
    const context = join(work, 'ctx');
    await makeContext(context, base);
    console.info(`context: ${fileCount} files, ${values.mb} MB; ${rounds} rounds each`);
    const results: Record<string, { cold: number[]; cached: number[] }> = {};
    if (only.has('berth')) {
      await using agent = await startTestAgent();
      results.berth = await measure('berth', agent.host, agent.configDir, context);
    }
    if (only.has('dockerd')) {
      await using ref = await startReferenceDockerd();
      const cli = join(ref.root, 'cli');
      await mkdir(cli, { recursive: true });
      results.dockerd = await measure('dockerd', ref.host, cli, context);
    }
    console.info('');
    for (const [name, r] of Object.entries(results))
      console.info(
        `${name.padEnd(7)} median: cold ${median(r.cold).toFixed(0)} ms, cached ${median(r.cached).toFixed(0)} ms`,
      );
    if (results.berth && results.dockerd) {
      console.info(
        `ratio berth/dockerd: cold ${(median(results.berth.cold) / median(results.dockerd.cold)).toFixed(2)}, cached ${(median(results.berth.cached) / median(results.dockerd.cached)).toFixed(2)}`,
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
