/**
 * CLI benchmark: the stock docker CLI against the reference dockerd 20.10 and against a Berth agent, same
 * busybox image from a loopback registry. Measures `docker run --rm --network none IMAGE true` and
 * `docker ps -a` with N containers present; prints medians per daemon and the ratio dockerd/Berth, and the
 * docker CLI's own floor (`docker version`) so the ratio can be read with and without it.
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
  /** `docker version` against the daemon: the CLI's own start and one request, a floor under every command. */
  floor?: number;
  error?: string;
}

interface Daemon {
  name: 'dockerd' | 'berth';
  docker: Docker;
  figures: Figures;
}

/**
 * `run --rm` rounds alternate between the daemons (dockerd, Berth, dockerd, …), so a machine that slows down or
 * speeds up during the run weighs on both alike; `ps -a` is then measured per daemon with its N containers.
 */
async function measure(daemons: Daemon[], image: string): Promise<void> {
  const runs = new Map<Daemon, number[]>(daemons.map((d) => [d, []]));
  const floors = new Map<Daemon, number[]>(daemons.map((d) => [d, []]));
  const live = daemons.filter((d) => !d.figures.error);
  for (const daemon of live) {
    try {
      await must(daemon.docker, ['pull', '-q', image]);
      await timed(daemon.docker, ['run', '--rm', '--network', 'none', image, 'true']); // warm-up
    } catch (error) {
      daemon.figures.error = (error as Error).message;
    }
  }
  for (let i = 0; i < rounds; i++)
    for (const daemon of live) {
      if (daemon.figures.error) continue;
      try {
        runs
          .get(daemon)
          ?.push(await timed(daemon.docker, ['run', '--rm', '--network', 'none', image, 'true']));
        floors
          .get(daemon)
          ?.push(await timed(daemon.docker, ['version', '--format', '{{.Server.APIVersion}}']));
      } catch (error) {
        daemon.figures.error = (error as Error).message;
      }
    }
  for (const daemon of live) {
    if (daemon.figures.error) continue;
    daemon.figures.runRm = median(runs.get(daemon) ?? []);
    daemon.figures.floor = median(floors.get(daemon) ?? []);
    const created: string[] = [];
    try {
      for (let i = 0; i < containerCount; i++)
        created.push(
          (
            await must(daemon.docker, [
              'create',
              '--network',
              'none',
              '--name',
              `bt-api-bench-${i}`,
              image,
              'true',
            ])
          ).trim(),
        );
      const ps: number[] = [];
      for (let i = 0; i < rounds; i++) ps.push(await timed(daemon.docker, ['ps', '-a']));
      daemon.figures.ps = median(ps);
    } catch (error) {
      daemon.figures.error = (error as Error).message;
    } finally {
      for (let i = 0; i < created.length; i += 50)
        await daemon.docker(['rm', '-f', ...created.slice(i, i + 50)]);
    }
    console.info(`${daemon.name}: ${JSON.stringify(daemon.figures)}`);
  }
}

const fmt = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${ms.toFixed(1)} ms`);
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? 'n/a' : `${(a / b).toFixed(2)}x`;
const above = (total: number | undefined, floor: number | undefined) =>
  total === undefined || floor === undefined ? undefined : total - floor;

await using registry = await startRegistry();
const image = await pushBusybox(registry, 'bt-api/busybox:bench');
const config = await mkdtemp('/tmp/bt-api-bench-cfg-');
try {
  await using dockerd = values.only === 'berth' ? undefined : await startReferenceDockerd();
  await using berth = values.only === 'dockerd' ? undefined : await startTestAgent();
  const daemons: Daemon[] = [];
  if (dockerd)
    daemons.push({ name: 'dockerd', docker: (args) => runDocker(dockerd.host, config, args), figures: {} });
  if (berth) daemons.push({ name: 'berth', docker: (args) => berth.docker(args), figures: {} });
  await measure(daemons, image);
  const d = daemons.find((x) => x.name === 'dockerd')?.figures;
  const b = daemons.find((x) => x.name === 'berth')?.figures;
  console.info(
    `\nrounds=${rounds} containers=${containerCount} (medians; ratio = dockerd / Berth, >1 means Berth is faster)`,
  );
  console.info(
    `run --rm true   dockerd ${fmt(d?.runRm)}   berth ${fmt(b?.runRm)}   ratio ${ratio(d?.runRm, b?.runRm)}`,
  );
  console.info(`ps -a           dockerd ${fmt(d?.ps)}   berth ${fmt(b?.ps)}   ratio ${ratio(d?.ps, b?.ps)}`);
  console.info(
    `docker version  dockerd ${fmt(d?.floor)}   berth ${fmt(b?.floor)}   (the CLI's own floor under each command)`,
  );
  console.info(
    `run --rm above that floor: dockerd ${fmt(above(d?.runRm, d?.floor))}   berth ${fmt(above(b?.runRm, b?.floor))}   ratio ${ratio(above(d?.runRm, d?.floor), above(b?.runRm, b?.floor))}`,
  );
  for (const daemon of daemons)
    if (daemon.figures.error) console.info(`${daemon.name} could not finish: ${daemon.figures.error}`);
} finally {
  await rm(config, { recursive: true, force: true });
}
