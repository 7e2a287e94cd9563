/**
 * CLI benchmark: the stock docker CLI against the reference dockerd 20.10 and against a Berth agent, same
 * busybox image from a loopback registry. Measures `docker run --rm --network none IMAGE true` and
 * `docker ps -a` with N containers present; prints medians per daemon and the ratio dockerd/Berth.
 * A daemon that cannot do a step is reported with its error instead of a figure.
 *
 *   npx tsx bench/cli/run.ts [--rounds 10] [--containers 200] [--only dockerd|berth]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startReferenceDockerd } from '@berth/agent/docker-api/reference';
import { runDocker, startTestAgent } from '@berth/agent/docker-api/testing';
import { pushBusybox } from '@berth/engine/testing/images';
import { startRegistry } from '@berth/engine/testing/registry';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    containers: { type: 'string', default: '200' },
    only: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const containerCount = Number(values.containers);

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

type Docker = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

async function must(docker: Docker, args: string[]): Promise<string> {
  const r = await docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

async function timed(docker: Docker, args: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  await must(docker, args);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

interface Figures {
  runRm?: number;
  ps?: number;
  error?: string;
}

async function measure(name: string, docker: Docker, image: string): Promise<Figures> {
  const figures: Figures = {};
  const created: string[] = [];
  try {
    await must(docker, ['pull', '-q', image]);
    await timed(docker, ['run', '--rm', '--network', 'none', image, 'true']); // warm-up
    const runs: number[] = [];
    for (let i = 0; i < rounds; i++)
      runs.push(await timed(docker, ['run', '--rm', '--network', 'none', image, 'true']));
    figures.runRm = median(runs);
    for (let i = 0; i < containerCount; i++)
      created.push(
        (
          await must(docker, ['create', '--network', 'none', '--name', `bt-api-bench-${i}`, image, 'true'])
        ).trim(),
      );
    const ps: number[] = [];
    for (let i = 0; i < rounds; i++) ps.push(await timed(docker, ['ps', '-a']));
    figures.ps = median(ps);
  } catch (error) {
    figures.error = (error as Error).message;
  } finally {
    for (let i = 0; i < created.length; i += 50) await docker(['rm', '-f', ...created.slice(i, i + 50)]);
  }
  console.info(`${name}: ${JSON.stringify(figures)}`);
  return figures;
}

const fmt = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${ms.toFixed(1)} ms`);
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? 'n/a' : `${(a / b).toFixed(2)}x`;

await using registry = await startRegistry();
const image = await pushBusybox(registry, 'bt-api/busybox:bench');
const results: Record<string, Figures> = {};
if (values.only !== 'berth') {
  await using dockerd = await startReferenceDockerd();
  const config = await mkdtemp('/tmp/bt-api-bench-cfg-');
  try {
    results.dockerd = await measure('dockerd', (args) => runDocker(dockerd.host, config, args), image);
  } finally {
    await rm(config, { recursive: true, force: true });
  }
}
if (values.only !== 'dockerd') {
  await using berth = await startTestAgent();
  results.berth = await measure('berth', (args) => berth.docker(args), image);
}
const d = results.dockerd;
const b = results.berth;
console.info(
  `\nrounds=${rounds} containers=${containerCount} (medians; ratio = dockerd / Berth, >1 means Berth is faster)`,
);
console.info(
  `run --rm true   dockerd ${fmt(d?.runRm)}   berth ${fmt(b?.runRm)}   ratio ${ratio(d?.runRm, b?.runRm)}`,
);
console.info(`ps -a           dockerd ${fmt(d?.ps)}   berth ${fmt(b?.ps)}   ratio ${ratio(d?.ps, b?.ps)}`);
for (const [name, f] of Object.entries(results))
  if (f.error) console.info(`${name} could not finish: ${f.error}`);
